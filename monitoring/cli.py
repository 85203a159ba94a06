"""`python -m monitoring report`: the monitoring report from the endpoint's captured data.

Exit codes: 0 the report was written (also when it is flagged or the window is empty);
1 the report was written but there is no captured data at all (capture is misconfigured
or the endpoint was never called, which a scheduled run must not pass over silently);
2 nothing was written: bad flags, unreachable location, unreadable --manifest, output
not writable.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from deployment.outputs import terraform_outputs
from monitoring.reference import DriftReferenceError
from monitoring.report import OutputError, print_summary, run
from monitoring.settings import SettingsError, resolve
from monitoring.sources import SourceError

EXIT_OK, EXIT_NO_CAPTURE, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report",
        help="HTML + PNG report from the captured data",
        description="Reads the endpoint's data capture (streamed) and writes index.html, "
        "PNG plots and summary.json. Location, endpoint and manifest default to "
        "`terraform output`; flags override.",
    )
    report.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="local: the local cloud (AWS_ENDPOINT_URL defaults to "
        "http://127.0.0.1:4566); aws: your AWS credentials (default: local)",
    )
    report.add_argument(
        "--s3-uri",
        help="capture destination, s3://bucket/prefix "
        "(default: terraform output data_capture_s3_uri)",
    )
    report.add_argument(
        "--capture-dir",
        help="read captures from a local directory instead (e.g. a copy made with `aws s3 sync`)",
    )
    report.add_argument(
        "--endpoint", help="endpoint name (default: terraform output endpoint_name)"
    )
    report.add_argument("--since", help="window start, ISO 8601 UTC (default: the beginning)")
    report.add_argument("--until", help="window end, exclusive, ISO 8601 UTC (default: now)")
    report.add_argument("--threshold", type=float, help="confidence threshold (default 0.93)")
    report.add_argument(
        "--manifest",
        help="drift reference: the ETL's manifest.json, the "
        "model's metadata.json or model.tar.gz; path or s3:// (default: "
        "s3://<data_bucket>/cifar/manifest.json)",
    )
    report.add_argument(
        "--low-share-limit",
        type=float,
        default=0.2,
        help="flag when the share below the threshold exceeds this (default 0.2)",
    )
    report.add_argument(
        "--drift-limit",
        type=float,
        default=0.25,
        help="flag when a channel or brightness mean moves more than this many "
        "training standard deviations (default 0.25)",
    )
    report.add_argument(
        "--min-drift-images",
        type=int,
        default=50,
        help="judge drift only from this many images on (default 50)",
    )
    report.add_argument(
        "--no-drift",
        action="store_true",
        help="do not decode every captured image: no drift section, several times faster",
    )
    report.add_argument(
        "--lowest",
        type=int,
        default=12,
        help="how many lowest-confidence images to show (default 12)",
    )
    report.add_argument(
        "--terraform-dir",
        default="terraform",
        help="where to run `terraform output` (default: terraform)",
    )
    report.add_argument("--out", default="reports/monitoring", help="output folder")
    return parser


def main(argv: list[str] | None = None, results: list | None = None) -> int:
    """The CLI; `results`, when given, receives the ReportResult (for benchmarks)."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        needs_terraform = not (args.s3_uri or args.capture_dir) or not args.endpoint
        outputs = (
            terraform_outputs(args.target, Path(args.terraform_dir)) if needs_terraform else {}
        )
        settings = resolve(args, outputs)
        result = run(settings, command="python -m monitoring " + shlex.join(argv))
    except (SettingsError, SourceError, DriftReferenceError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: no report written", file=sys.stderr)
        return 130
    print_summary(result)
    if results is not None:
        results.append(result)
    return EXIT_NO_CAPTURE if result.summary["status"] == "no_capture" else EXIT_OK
