"""`python -m training cv` (training/cv.py), the tool that chose the recipe: its calibration
and its input checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from training import cv


@pytest.fixture(scope="module")
def cv_recipe():
    return cv


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(1, keepdims=True))
    return exp / exp.sum(1, keepdims=True)


def test_fit_temperature_recovers_how_overconfident_a_model_is(cv_recipe):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(20000, 2))
    labels = np.array([rng.choice(2, p=p) for p in softmax(logits)])  # calibrated truth
    overconfident = softmax(2 * logits)

    temperature = cv_recipe.fit_temperature(overconfident, labels)

    assert temperature == pytest.approx(2.0, abs=0.1)
    np.testing.assert_allclose(
        cv_recipe.calibrate(overconfident, temperature), softmax(logits), atol=0.03
    )


def test_confidence_counts_what_the_threshold_filter_would_pass(cv_recipe):
    probabilities = np.array([[0.97, 0.03], [0.2, 0.8], [0.05, 0.95], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])

    seen = cv_recipe.confidence(probabilities, labels, threshold=0.93)

    assert seen["confident_share"] == 0.5  # rows 0 and 2
    assert seen["confident_accuracy"] == 0.5  # row 2 is confidently wrong


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("x:lr", "expected name"),
        ("x:learning_rate=1", "unknown hyperparameter 'learning_rate'"),
        ("x:seed=3", "seeds come from --seeds"),
    ],
)
def test_bad_configs_are_refused_before_training(cv_recipe, config, message):
    with pytest.raises(ValueError, match=message):
        cv_recipe.parse_config(config)


def test_config_without_overrides_means_the_defaults(cv_recipe):
    assert cv_recipe.parse_config("baseline") == ("baseline", {})
    assert cv_recipe.parse_config("c:cutmix=1,members=2") == ("c", {"cutmix": "1", "members": "2"})


def test_cv_is_a_training_subcommand(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "training", "cv", "--config", "x:lr"],
        cwd=repo_root, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "python -m training cv: error: --config 'x:lr': expected name" in result.stderr
