"""Where the report reads from: flags first, then Terraform's outputs, then defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from deployment.s3uri import S3Uri, S3UriError
from monitoring.capture import parse_inference_time
from monitoring.summary import Limits

# Without --threshold or Terraform's `confidence_threshold` output: the workflow's default.
DEFAULT_THRESHOLD = 0.93


class SettingsError(ValueError):
    """The flags and Terraform's outputs do not say where or what to report on."""


@dataclass(frozen=True)
class ReportSettings:
    location: str  # s3://bucket/prefix or a local directory, the capture destination root
    endpoint: str | None
    since: datetime | None
    until: datetime | None
    limits: Limits
    manifest: str | None
    manifest_explicit: bool
    out: Path
    lowest_n: int = 12
    target: str = "local"
    measure_drift: bool = True

    @property
    def capture_root(self) -> str:
        """The location plus the endpoint's folder, unless the location already names it."""
        base = self.location.rstrip("/")
        if not self.endpoint or base.rsplit("/", 1)[-1] == self.endpoint:
            return base
        return f"{base}/{self.endpoint}"


def parse_time(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_inference_time(text)
    except ValueError as exc:
        raise SettingsError(
            f"{flag} {text!r} is not an ISO 8601 time (2026-01-31T12:00:00Z)"
        ) from exc


def resolve(args, outputs: dict[str, object]) -> ReportSettings:
    """ReportSettings from parsed CLI args and Terraform outputs (flags win)."""
    location = args.capture_dir or args.s3_uri or outputs.get("data_capture_s3_uri")
    if not location:
        raise SettingsError(
            "no capture location: pass --s3-uri s3://bucket/prefix (or --capture-dir DIR), "
            "or run `terraform apply` so `terraform output data_capture_s3_uri` is set"
        )
    if args.capture_dir and not Path(args.capture_dir).is_dir():
        raise SettingsError(f"--capture-dir {args.capture_dir} is not a directory")
    if args.s3_uri:
        try:
            S3Uri.parse(args.s3_uri, what="--s3-uri")
        except S3UriError as exc:
            raise SettingsError(str(exc)) from None
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    if since and until and since >= until:
        raise SettingsError(f"--since {args.since} is not before --until {args.until}")
    threshold = args.threshold
    if threshold is None:
        threshold = outputs.get("confidence_threshold")
    if threshold is None:
        threshold = DEFAULT_THRESHOLD
    try:
        limits = Limits(
            threshold=float(threshold),
            low_share_limit=args.low_share_limit,
            drift_limit=args.drift_limit,
            min_drift_images=args.min_drift_images,
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    manifest = args.manifest
    if manifest is None and outputs.get("data_bucket"):
        manifest = f"s3://{outputs['data_bucket']}/cifar/manifest.json"
    if args.lowest < 0:
        raise SettingsError(f"--lowest must be 0 or more, got {args.lowest}")
    return ReportSettings(
        location=str(location),
        endpoint=args.endpoint or _str_or_none(outputs.get("endpoint_name")),
        since=since,
        until=until,
        limits=limits,
        manifest=manifest,
        manifest_explicit=args.manifest is not None,
        out=Path(args.out),
        lowest_n=args.lowest,
        target=args.target,
        measure_drift=not args.no_drift,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
