"""The report from start to end: list, stream, aggregate, plot, write."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployment.progress import progress_bar
from deployment.target import Target
from monitoring.aggregate import Aggregator
from monitoring.capture import iter_capture_lines
from monitoring.page import render_page
from monitoring.plots import PLOT_FILES, render_all
from monitoring.reference import DriftReference, DriftReferenceError, load_reference
from monitoring.settings import ReportSettings
from monitoring.sources import DirectorySource, ObjectReadError, S3Source
from monitoring.summary import DEFAULT_CLASS_NAMES, QUALITY_LABELS, summarize

PAGE_FILE = "index.html"
SUMMARY_FILE = "summary.json"
NO_CAPTURE_CHECKS = (
    "Is data capture enabled in the endpoint config (DataCaptureConfig EnableCapture)?",
    "Is the sampling percentage above 0 (InitialSamplingPercentage)?",
    "Does the capture destination match this location "
    "(terraform output data_capture_s3_uri, and the endpoint name)?",
    "Has the endpoint been invoked since capture was enabled? Captures arrive a few minutes later.",
)


class OutputError(OSError):
    """The output folder cannot be created or written."""


@dataclass(frozen=True)
class ReportResult:
    summary: dict
    page: Path
    files: tuple[Path, ...]
    reference_note: str | None
    seconds: dict[str, float]  # "scan" (list, read, aggregate) and "render" (plots, page)


def make_source(settings: ReportSettings, s3_client: object | None = None):
    root = settings.capture_root
    if root.startswith("s3://"):
        return S3Source(root, client=s3_client, target=settings.target)
    return DirectorySource(Path(root))


def _reference(
    settings: ReportSettings, s3_client: object | None
) -> tuple[DriftReference | None, str | None]:
    if not settings.manifest:
        return None, None
    try:
        return load_reference(settings.manifest, s3_client), None
    except DriftReferenceError as exc:
        if settings.manifest_explicit:
            raise
        return None, f"no drift reference ({exc})"


def scan(settings: ReportSettings, source, objects: list) -> Aggregator:
    agg = Aggregator(
        settings.limits.threshold,
        settings.since,
        settings.until,
        lowest_n=settings.lowest_n,
        measure_pixels=settings.measure_drift,
    )
    total = sum(o.size for o in objects)
    with progress_bar(total=total, unit="B", unit_scale=True, desc="capture", disable=None) as bar:
        for obj in objects:
            agg.quality.objects += 1
            number = 0
            try:
                for number, (line, status) in enumerate(iter_capture_lines(source.read(obj)), 1):
                    agg.add_line(line, status, f"{obj.key}:{number}")
            except ObjectReadError:
                agg.quality.note("unreadable_objects", f"{obj.key}:{number + 1}")
            bar.update(obj.size)
    return agg


def check_output(out: Path) -> None:
    """Fails before any work when the output folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK):
        raise OutputError(f"output folder {out} is not writable")


def _write(out: Path, files: dict[str, bytes]) -> tuple[Path, ...]:
    """Each file replaces the old one whole (temp file + rename); the page goes last, so
    a failure part way never leaves a page pointing at a mix of runs."""
    written = []
    try:
        for name, data in files.items():
            target = out / name
            temp = out / f".{name}.tmp"
            temp.write_bytes(data)
            os.replace(temp, target)
            written.append(target)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return tuple(written)


def run(
    settings: ReportSettings, s3_client: object | None = None, command: str = ""
) -> ReportResult:
    check_output(settings.out)
    uses_s3 = any(str(x).startswith("s3://") for x in (settings.location, settings.manifest))
    if s3_client is None and uses_s3:
        s3_client = Target(settings.target).client("s3")
    reference, reference_note = _reference(settings, s3_client)
    source = make_source(settings, s3_client)
    started = time.perf_counter()
    objects = source.list(settings.since, settings.until)
    agg = scan(settings, source, objects)
    scanned = time.perf_counter()
    agg.finish()
    class_names = (reference.class_names if reference else None) or DEFAULT_CLASS_NAMES
    captured = bool(objects) or source.has_any()
    summary = summarize(agg, reference, settings.limits, class_names, captured)
    if reference_note:
        summary["drift"]["note"] = reference_note
    summary["endpoint"] = settings.endpoint
    summary["location"] = source.description
    plots = render_all(agg, reference, settings.limits, class_names)
    context = {
        "endpoint": settings.endpoint or "(all endpoints)",
        "location": source.description,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command or "python -m monitoring report",
        "no_capture_checks": NO_CAPTURE_CHECKS,
    }
    page = render_page(summary, plots, agg.lowest(), class_names, context)
    files = {PLOT_FILES[name]: png for name, png in plots.items()}
    files[SUMMARY_FILE] = (json.dumps(summary, indent=2) + "\n").encode()
    files[PAGE_FILE] = page.encode("utf-8")
    written = _write(settings.out, files)
    seconds = {"scan": scanned - started, "render": time.perf_counter() - scanned}
    return ReportResult(summary, settings.out / PAGE_FILE, written, reference_note, seconds)


def print_summary(result: ReportResult, stream=None) -> None:
    s = result.summary
    conf, drift, q = s["confidence"], s["drift"], s["quality"]
    lines = [f"monitoring report: {s['endpoint'] or '(all endpoints)'} at {s['location']}"]
    if s["status"] == "no_capture":
        lines.append("  no captured data found. Check:")
        lines += [f"    - {c}" for c in NO_CAPTURE_CHECKS]
    else:
        lines.append(
            f"  read {q['objects']:,} objects, {q['lines']:,} lines; "
            f"{s['records']:,} requests in the window"
            + (f" ({s['window']['first']} to {s['window']['last']})" if s["records"] else "")
        )
    if s["records"]:
        lines.append(
            f"  confidence: mean {conf['mean']:.3f}, {conf['below_threshold_share']:.1%} "
            f"below {conf['threshold']:g} ({conf['below_threshold']:,} requests)"
        )
        lines.append(
            "  classes: "
            + ", ".join(f"{c['name']} {c['count']:,} ({c['share']:.1%})" for c in s["classes"])
        )
    # One drift line: the shift when measured, with the note (why it is not judged) in it.
    if "max_abs_shift" in drift:
        verdict = drift["status"].replace("_", " ")
        if drift.get("note"):
            verdict += ": " + drift["note"].removeprefix(f"{drift['images']} images: ")
        lines.append(
            f"  drift: max shift {drift['max_abs_shift']:.2f} training std over "
            f"{drift['images']:,} images ({verdict})"
        )
    elif drift.get("note"):
        lines.append(f"  drift: {drift['note']}")
    problems = [f"{q[k]:,} {label}" for k, label in QUALITY_LABELS.items() if q[k]]
    if problems:
        lines.append("  data quality: " + "; ".join(problems))
    flags = "; ".join(f["message"] for f in s["flags"]) or "none"
    lines.append(f"  flags: {flags}")
    lines.append(
        f"report: {result.page} (and {len(result.files) - 1} more files in {result.page.parent})"
    )
    print("\n".join(lines), file=stream or sys.stdout)
