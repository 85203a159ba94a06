"""training.artifact.load_inference: the one way to import an artifact's code/inference.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.artifact import ArtifactError, load_inference


def artifact_with_code(root: Path, answer: str) -> Path:
    code = root / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(f"ANSWER = {answer!r}\n\ndef model_fn(d):\n    return d\n")
    return root


def test_each_artifact_is_served_by_its_own_code(tmp_path):
    first = load_inference(artifact_with_code(tmp_path / "a", "first"))
    second = load_inference(artifact_with_code(tmp_path / "b", "second"))

    assert (first.ANSWER, second.ANSWER) == ("first", "second")


def test_a_directory_without_code_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match=r"has no code/inference\.py"):
        load_inference(tmp_path)
