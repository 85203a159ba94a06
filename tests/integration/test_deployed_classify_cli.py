"""`make classify` (workflow.classify's main) against a deployment on the local cloud:
the table it prints and its exit status for one image, several and a folder."""

from __future__ import annotations

import shutil

import pytest

import deployment.target as deployment_target
from workflow.classify import TABLE_WIDTH, main

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


@pytest.fixture
def classify(deployment, monkeypatch, capsys):
    """Runs the CLI on the session's deployment; returns (exit status, table rows, stdout)."""
    # The CLI reads `terraform output`; the session's state is pytest-terraform's own.
    monkeypatch.setattr(deployment_target, "terraform_outputs", lambda name: deployment.outputs)

    def run(*args: str) -> tuple[int, dict[str, list[str]], str]:
        status = main(["--port", str(deployment.cloud.port), *args])
        out = capsys.readouterr().out
        lines = out.splitlines()
        table = lines[: lines.index("")] if "" in lines else lines
        # The table and its counts fit 100 columns (the execution ARN after them may not).
        assert all(len(line) <= TABLE_WIDTH for line in [*table, lines[len(table) + 1]]), out
        assert table[0].split() == ["image", "label", "confidence", "outcome"], out
        assert not any("s3://" in line for line in table), out
        return status, {line.split()[0]: line.split()[1:] for line in table[1:]}, out

    return run


def copy(image, folder, name=None):
    folder.mkdir(exist_ok=True)
    return shutil.copy(image.path, folder / (name or image.path.name))


def test_one_confident_image_passes_with_exit_0(deployment, classify, tmp_path):
    image = deployment.images["confident"]

    status, rows, out = classify(str(copy(image, tmp_path)))

    assert status == 0, out
    assert rows[image.path.name] == [image.label, f"{image.confidence:.4f}", "passed"]
    assert "1 image: 1 passed, 0 low confidence" in out


def test_one_low_confidence_image_is_an_outcome_with_its_label_and_confidence(
    deployment, classify, tmp_path
):
    image = deployment.images["unsure"]

    status, rows, out = classify(str(copy(image, tmp_path)))

    assert status == 0, out
    assert rows[image.path.name] == [image.label, f"{image.confidence:.4f}", "low", "confidence"]


def test_several_images_and_a_bad_one_all_get_outcomes(deployment, classify, tmp_path):
    confident, unsure = deployment.images["confident"], deployment.images["unsure"]
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"this is text, not a PNG")

    status, rows, out = classify(
        str(copy(confident, tmp_path)), str(copy(unsure, tmp_path)), str(bad)
    )

    assert status == 0, out
    assert rows[confident.path.name][-1] == "passed"
    assert rows[unsure.path.name][:2] == [unsure.label, f"{unsure.confidence:.4f}"]
    assert rows["not-an-image.png"][:3] == ["-", "-", "UnsupportedImageError"]
    assert "3 images: 1 passed, 1 low confidence, 1 not classifiable" in out


def test_a_folder_gives_one_row_per_image(deployment, classify, tmp_path):
    folder = tmp_path / "folder"
    names = [copy(s, folder).name for s in deployment.images["all"][:4]]

    status, rows, out = classify(str(folder))

    assert status == 0, out
    assert sorted(rows) == sorted(names)


def test_a_workflow_that_does_not_finish_in_time_exits_1(deployment, classify, tmp_path, capsys):
    image = deployment.images["confident"]

    status = main(
        ["--port", str(deployment.cloud.port), "--timeout", "0", str(copy(image, tmp_path))]
    )

    assert status == 1
    assert "the workflow failed" in capsys.readouterr().err
