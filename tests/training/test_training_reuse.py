"""`python -m training local` reuses an artifact trained on the same data and recipe and
says so; a change in the data, the recipe's arguments or the training code trains again;
`python -m training deploy` checks a given artifact and records it as training does."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.training.training_helpers import (
    ARTIFACTS_BUCKET,
    DATA_BUCKET,
    SMOKE_HYPERPARAMETERS,
    run_module,
)
from training import reuse


def train_args(work: Path, tfvars: Path, channels: str, **changed: str) -> list[str]:
    """local_run's command (tests/training/conftest.py), with hyperparameters changed."""
    args = [
        "local", "--target", "local", "--channels", channels, "--bucket", ARTIFACTS_BUCKET,
        "--work-dir", str(work), "--tfvars-dir", str(tfvars),
    ]  # fmt: skip
    for name, value in {**SMOKE_HYPERPARAMETERS, **changed}.items():
        args += ["-H", f"{name}={value}"]
    return args


def printed(stdout: str) -> dict[str, str]:
    """The `key: value` lines the launcher ends with."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


@pytest.fixture
def trained_work(local_run: dict, tmp_path: Path) -> Path:
    """A work dir holding only local_run's job (its artifact and fingerprint), so that a
    test that trains again leaves the shared one alone."""
    job = local_run["job_dir"]
    copy = tmp_path / "work" / job.name
    copy.mkdir(parents=True)
    for name in ("model.tar.gz", reuse.FINGERPRINT_FILE):
        shutil.copy(job / name, copy / name)
    shutil.copytree(job / "model", copy / "model")
    return copy.parent


def test_same_data_and_recipe_reuses_the_artifact_and_says_so(
    local_run, trained_work, s3_server, tmp_path, repo_root
):
    job = local_run["job_dir"]
    channels = f"s3://{DATA_BUCKET}/cifar"

    result = run_module(
        "training", *train_args(trained_work, tmp_path, channels), env=s3_server["env"],
        cwd=repo_root,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    fingerprint = json.loads((job / reuse.FINGERPRINT_FILE).read_text())["fingerprint"]
    assert "training skipped: an artifact was trained on the same data and recipe" in result.stdout
    assert f"artifact     {trained_work / job.name / 'model.tar.gz'}" in result.stdout
    assert f"fingerprint  {fingerprint[:16]}" in result.stdout
    assert "make train FORCE=1" in result.stdout
    assert "epoch" not in result.stdout  # train.py never ran
    assert [p.name for p in trained_work.iterdir()] == [job.name]  # no new job
    values = printed(result.stdout)
    assert values["trained"] == "no (reused)"
    url = f"s3://{ARTIFACTS_BUCKET}/models/{job.name}/model.tar.gz"
    assert json.loads((tmp_path / "model.local.tfvars.json").read_text()) == {"model_data_url": url}
    uploaded = s3_server["s3"].get_object(Bucket=ARTIFACTS_BUCKET, Key=url.split("/", 3)[3])
    assert uploaded["Body"].read() == local_run["tarball"].read_bytes()


def test_a_changed_hyperparameter_trains_again(trained_work, s3_server, tmp_path, repo_root):
    channels = f"s3://{DATA_BUCKET}/cifar"
    args = train_args(trained_work, tmp_path, channels, epochs="1")

    result = run_module("training", *args, env=s3_server["env"], cwd=repo_root)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "training skipped" not in result.stdout
    assert "epoch 1/1" in result.stdout
    assert printed(result.stdout)["trained"] == "yes"
    assert len(list(trained_work.iterdir())) == 2


def test_changed_data_trains_again(etl_output, trained_work, s3_server, tmp_path, repo_root):
    changed = tmp_path / "cifar"
    shutil.copytree(etl_output, changed)
    lines = (changed / "train.lst").read_text().splitlines(keepends=True)
    (changed / "train.lst").write_text("".join(lines[:-1]))  # one training image fewer
    args = train_args(trained_work, tmp_path, str(changed), epochs="1")
    first = run_module("training", *args, "--no-upload", env=s3_server["env"], cwd=repo_root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert printed(first.stdout)["trained"] == "yes"

    (changed / "train.lst").write_text("".join(lines))
    again = run_module("training", *args, "--no-upload", env=s3_server["env"], cwd=repo_root)

    assert again.returncode == 0, again.stdout + again.stderr
    assert printed(again.stdout)["trained"] == "yes"
    assert printed(again.stdout)["fingerprint"] != printed(first.stdout)["fingerprint"]


def test_force_trains_although_an_artifact_matches(
    trained_work, s3_server, tmp_path, repo_root, etl_output
):
    args = train_args(trained_work, tmp_path, str(etl_output), epochs="1")
    first = run_module("training", *args, "--no-upload", env=s3_server["env"], cwd=repo_root)
    assert printed(first.stdout)["trained"] == "yes", first.stdout + first.stderr

    forced = run_module(
        "training", *args, "--no-upload", "--force", env=s3_server["env"], cwd=repo_root
    )

    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert printed(forced.stdout)["trained"] == "yes"
    assert printed(forced.stdout)["fingerprint"] == printed(first.stdout)["fingerprint"]


def test_changed_training_code_changes_the_fingerprint(tmp_path, monkeypatch):
    files = {name: b"x" for name in reuse.CHANNEL_FILES}
    before = reuse.fingerprint(files, {"epochs": "4"})
    code = tmp_path / "training"
    shutil.copytree(reuse.TRAINING_CODE, code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(reuse, "TRAINING_CODE", code)
    same = reuse.fingerprint(files, {"epochs": "4"})
    with (code / "recipe.py").open("a") as recipe:
        recipe.write("\n# a change to the recipe\n")

    assert same == before
    assert reuse.fingerprint(files, {"epochs": "4"}) != before


# ---------------------------------------------------------------- deploy a given artifact


def deploy(model: Path, tfvars: Path, s3_server: dict, repo_root: Path):
    return run_module(
        "training", "deploy", str(model), "--target", "local", "--bucket", ARTIFACTS_BUCKET,
        "--tfvars-dir", str(tfvars), env=s3_server["env"], cwd=repo_root,
    )  # fmt: skip


def test_deploy_uploads_the_artifact_and_records_its_url(local_run, s3_server, tmp_path, repo_root):
    tarball = local_run["tarball"]

    result = deploy(tarball, tmp_path, s3_server, repo_root)

    assert result.returncode == 0, result.stdout + result.stderr
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()[:16]
    url = f"s3://{ARTIFACTS_BUCKET}/models/deployed-{digest}/model.tar.gz"
    assert json.loads((tmp_path / "model.local.tfvars.json").read_text()) == {"model_data_url": url}
    assert f"recorded {url}: `make apply TARGET=local` serves it" in result.stdout
    body = s3_server["s3"].get_object(Bucket=ARTIFACTS_BUCKET, Key=url.split("/", 3)[3])["Body"]
    assert body.read() == tarball.read_bytes()


def not_a_tar(path: Path) -> Path:
    path.write_text("not a tar")
    return path


def without(tarball: Path, name: str, out: Path) -> Path:
    """A copy of the artifact lacking one file."""
    with tarfile.open(tarball) as source, tarfile.open(out, "w:gz") as target:
        for member in source.getmembers():
            if member.name != name:
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out


@pytest.mark.parametrize(
    ("make_model", "message"),
    [
        (lambda tmp, tarball: tmp / "nowhere" / "model.tar.gz", "does not exist: `make train`"),
        (lambda tmp, tarball: tmp, "is not a file: give the model.tar.gz itself"),
        (lambda tmp, tarball: not_a_tar(tmp / "model.tar.gz"), "is not a gzip'd tar archive"),
        (
            lambda tmp, tarball: without(tarball, "code/inference.py", tmp / "model.tar.gz"),
            "is not a model artifact: missing code/inference.py at the archive's root",
        ),
    ],
    ids=["missing", "a-folder", "not-a-tar", "no-handler"],
)
def test_deploy_refuses_what_the_endpoint_cannot_serve(
    make_model, message, local_run, s3_server, tmp_path, repo_root
):
    model = make_model(tmp_path, local_run["tarball"])

    result = deploy(model, tmp_path, s3_server, repo_root)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "python -m training deploy: error:" in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "model.local.tfvars.json").exists()
