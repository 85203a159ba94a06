"""`python -m etl`: export CIFAR-100 classes to PNG channels and optionally upload them."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from etl.errors import EtlError
from etl.export import run
from etl.labels import DEFAULT_LABELS, parse_labels
from etl.manifest import MANIFEST_NAME, Manifest
from etl.source import OFFICIAL_URL
from etl.upload import parse_upload_uri, upload


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl",
        description="CIFAR-100 archive -> 32x32 PNGs, SageMaker .lst files and manifest.json "
        "(optionally uploaded to S3).",
    )
    parser.add_argument(
        "--source", default=OFFICIAL_URL, help="archive path or http(s) URL (default: official URL)"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--labels",
        default=",".join(DEFAULT_LABELS),
        help="comma-separated fine label names, in class order (default: %(default)s)",
    )
    parser.add_argument("--upload", metavar="s3://BUCKET/PREFIX", help="upload the export there")
    parser.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="where --upload goes: the local cloud (AWS_ENDPOINT_URL, else port 4566) or "
        "AWS (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="download cache (default: $XDG_CACHE_HOME or ~/.cache/scones)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or progress notes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr(quiet=args.quiet)
    try:
        labels = parse_labels(args.labels)
        if args.upload:
            parse_upload_uri(args.upload)  # a typo here should not cost a whole export
        manifest = run(
            args.source, args.out, labels, cache_dir=args.cache_dir, progress=not args.quiet
        )
        _report(manifest, args.out)
        if args.upload:
            result = upload(args.out, args.upload, target=args.target, progress=not args.quiet)
            print(
                f"uploaded {result.uploaded} files to {args.upload.rstrip('/')}/ "
                f"({result.skipped} already there unchanged)"
            )
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
    return 0


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (it changes under test capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def _log_to_stderr(*, quiet: bool) -> None:
    logger = logging.getLogger("etl")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def _report(manifest: Manifest, out: Path) -> None:
    for split, counts in manifest.counts.items():
        per_class = ", ".join(f"{name} {n}" for name, n in counts["per_class"].items())
        print(f"{split}: {counts['total']} images ({per_class}) in {out / split}")
    print(f"lists: {out / 'train.lst'}, {out / 'test.lst'}; manifest: {out / MANIFEST_NAME}")
