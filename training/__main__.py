"""`python -m training local|sagemaker|pack|cv`: train the classifier and record the model.

local      train here (train.py in a subprocess), pack model.tar.gz, upload it to the
           artifacts bucket and write terraform/model.<target>.tfvars.json; an artifact
           trained on the same data and recipe is reused (training/reuse.py; --force)
deploy     upload a given model.tar.gz to the artifacts bucket and write the same record
sagemaker  submit a SageMaker training job (--algorithm pytorch|builtin), wait, and
           write terraform/model.<target>.tfvars.json
pack       pack a model directory as model.tar.gz (optionally vendoring onnxruntime)
cv         compare recipes by cross-validation on train and fit the serving temperature
           (training/cv.py; `python -m training cv --help`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from training import artifact, cloud
from training.splits import SplitError

DEFAULT_WORK_DIR = cloud.REPO_ROOT / "build" / "training"


def hyperparameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.replace("-", "_"), value


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="which terraform/model.<target>.tfvars.json to write",
    )
    parser.add_argument(
        "--channels",
        help="ETL output: a folder or s3://bucket/prefix "
        "(default: s3://<terraform output data_bucket>/cifar)",
    )
    parser.add_argument(
        "--bucket", help="artifacts bucket (default: terraform output artifacts_bucket)"
    )
    parser.add_argument("--epochs", help="shortcut for --hyperparameter epochs=N")
    parser.add_argument("--seed", help="shortcut for --hyperparameter seed=N")
    parser.add_argument(
        "--hyperparameter",
        "-H",
        action="append",
        type=hyperparameter,
        default=[],
        metavar="NAME=VALUE",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="share of train held out for model selection (stratified)",
    )
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument(
        "--onnxruntime-wheel",
        type=Path,
        help="onnxruntime wheel to vendor instead of downloading it",
    )
    parser.add_argument(
        "--tfvars-dir",
        type=Path,
        default=cloud.TERRAFORM_DIR,
        help="where model.<target>.tfvars.json goes (default: terraform/)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="train here, pack, upload, record model_data_url")
    common_arguments(local)
    local.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    local.add_argument(
        "--no-upload", action="store_true", help="stop after packing (no bucket, no tfvars)"
    )
    local.add_argument(
        "--force",
        action="store_true",
        help="train even when build/training holds an artifact for the same data and recipe",
    )
    local.add_argument(
        "--vendor-onnxruntime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="put onnxruntime into code/lib (default: with "
        "--target aws, whose PyTorch serving image lacks it)",
    )

    sm = commands.add_parser("sagemaker", help="submit a SageMaker training job")
    common_arguments(sm)
    sm.add_argument("--algorithm", choices=("pytorch", "builtin"), default="pytorch")
    sm.add_argument(
        "--role", help="execution role ARN (default: terraform output sagemaker_role_arn)"
    )
    sm.add_argument("--region")
    sm.add_argument("--instance-type")
    sm.add_argument("--no-wait", action="store_true", help="return after submitting")
    sm.add_argument("--poll-seconds", type=float, default=30.0)
    sm.add_argument(
        "--no-vendor-onnxruntime",
        action="store_true",
        help="pytorch: do not ship onnxruntime in the artifact",
    )

    deploy = commands.add_parser(
        "deploy", help="upload a given model.tar.gz and record it (no training)"
    )
    deploy.add_argument("model", type=Path, help="a model.tar.gz (build/training/<job>/...)")
    deploy.add_argument("--target", choices=("local", "aws"), default="local")
    deploy.add_argument(
        "--bucket", help="artifacts bucket (default: terraform output artifacts_bucket)"
    )
    deploy.add_argument("--tfvars-dir", type=Path, default=cloud.TERRAFORM_DIR)

    commands.add_parser("cv", help="cross-validate recipes and fit the serving temperature")
    pack = commands.add_parser("pack", help="pack a model directory as model.tar.gz")
    pack.add_argument("model_dir", type=Path)
    pack.add_argument("--out", type=Path, required=True)
    pack.add_argument("--vendor-onnxruntime", action="store_true")
    pack.add_argument("--onnxruntime-wheel", type=Path)  # fmt: skip
    return parser


def hyperparameters(options: argparse.Namespace) -> dict[str, str]:
    values = dict(options.hyperparameter)
    for name in ("epochs", "seed"):
        if getattr(options, name) is not None:
            values[name] = getattr(options, name)
    return values


def run(options: argparse.Namespace) -> dict:
    if options.command == "pack":
        if options.vendor_onnxruntime:
            artifact.vendor_onnxruntime(options.model_dir, options.onnxruntime_wheel)
        return {"model_tar": str(artifact.pack(options.model_dir, options.out))}
    if options.command == "local":
        from training.local_job import LocalJob
        from training.local_job import run as run_local

        vendor = options.vendor_onnxruntime
        return run_local(LocalJob(
            target=options.target, channels=options.channels, bucket=options.bucket,
            work_dir=options.work_dir, hyperparameters=hyperparameters(options),
            validation_fraction=options.validation_fraction, split_seed=options.split_seed,
            vendor_onnxruntime=options.target == "aws" if vendor is None else vendor,
            onnxruntime_wheel=options.onnxruntime_wheel, upload=not options.no_upload,
            tfvars_dir=options.tfvars_dir, force=options.force,
        ))  # fmt: skip
    if options.command == "deploy":
        from training.local_job import deploy

        return deploy(options.model, options.target, options.bucket, options.tfvars_dir)
    from training.sagemaker_job import SageMakerJob
    from training.sagemaker_job import run as run_sagemaker

    return run_sagemaker(SageMakerJob(
        algorithm=options.algorithm, target=options.target, channels=options.channels,
        bucket=options.bucket, role=options.role, region=options.region,
        instance_type=options.instance_type, hyperparameters=hyperparameters(options),
        validation_fraction=options.validation_fraction, split_seed=options.split_seed,
        wait=not options.no_wait, poll_seconds=options.poll_seconds,
        onnxruntime_wheel=options.onnxruntime_wheel,
        vendor_onnxruntime=not options.no_vendor_onnxruntime, tfvars_dir=options.tfvars_dir,
    ))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cv"]:  # its own parser: training/cv.py
        from training import cv

        return cv.main(argv[1:])
    options = build_parser().parse_args(argv)
    try:
        result = run(options)
    except (cloud.LaunchError, artifact.ArtifactError, SplitError, ValueError) as error:
        print(f"python -m training {options.command}: error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"python -m training {options.command}: AWS error: {error}", file=sys.stderr)
        return 1
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
