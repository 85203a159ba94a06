"""The recipe's parts on real images: ensemble members, CutMix, calibrated export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from training import export, recipe
from training.channels import read_channel


@pytest.fixture(scope="module")
def real_split(etl_output: Path, tmp_path_factory) -> recipe.Split:
    """The first 96 real train images, scaled to [-1, 1]."""
    lst = tmp_path_factory.mktemp("lst")
    lines = (etl_output / "train.lst").read_text().splitlines()[:96]
    (lst / "train.lst").write_text("\n".join(lines) + "\n")
    channel = read_channel("train", etl_output / "train", 2, lst)
    pixels = torch.from_numpy(channel.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return recipe.Split(pixels.contiguous(), torch.from_numpy(channel.labels))


@pytest.fixture(scope="module")
def ensemble(real_split) -> recipe.Ensemble:
    hyp = recipe.hyperparameters({"epochs": 1, "members": 2, "refit_full": 0, "cutmix": 0.5})
    torch.set_num_threads(1)
    net, history = recipe.train(hyp, real_split, None, 2)
    assert len(history) == 1 and 0 < history[0]["train_loss"] < 10
    return net


def test_members_become_one_model_averaging_their_logits(ensemble, real_split):
    images = real_split.images[:16]
    with torch.no_grad():
        first, second = (net.eval()(images) for net in ensemble.nets)
        combined = ensemble(images)

    assert isinstance(ensemble, recipe.Ensemble) and len(ensemble.nets) == 2
    assert not torch.allclose(first, second)  # different seeds, different members
    assert torch.allclose(combined, (first + second) / 2, atol=1e-6)


def test_saved_ensemble_weights_load_into_make_model(ensemble, real_split):
    model = recipe.make_model(recipe.hyperparameters({"members": 2}), 2)
    model.load_state_dict(ensemble.state_dict())  # strict: same shape, same names

    images = real_split.images[:4]
    with torch.no_grad():
        assert torch.equal(model.eval()(images), ensemble(images))


def test_exported_graph_is_the_ensemble_with_calibrated_softmax(ensemble, real_split, tmp_path):
    images = real_split.images[:16]
    export.export_onnx(ensemble, tmp_path / "model.onnx", (32, 32), temperature=0.5)
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))

    served = session.run(None, {export.INPUT_NAME: images.numpy()})[0]
    logits = recipe.predict_logits(ensemble, images)

    expected = torch.softmax(logits / 0.5, dim=1).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    # A temperature under 1 sharpens: every top probability grows.
    assert (served.max(1) > torch.softmax(logits, dim=1).numpy().max(1)).all()


def test_cutmix_pastes_one_box_and_weights_the_labels_by_its_area(real_split):
    hyp = recipe.hyperparameters({"cutmix": 1})
    generator = torch.Generator().manual_seed(3)
    images, labels = real_split.images[:32], real_split.labels[:32]

    mixed, partner, weight = recipe.cutmix_batch(images, labels, hyp, generator)

    changed = (mixed != images).any(1).any(0)  # H x W: pixels pasted into some image
    rows, cols = changed.nonzero(as_tuple=True)
    box = changed[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert box.all() and changed.sum() == box.numel()  # one solid box
    assert weight == pytest.approx(1 - box.numel() / 32**2)
    assert sorted(partner.tolist()) == sorted(labels.tolist())  # a permutation


def test_cutmix_off_leaves_the_batch_alone(real_split):
    images, labels = real_split.images[:8], real_split.labels[:8]

    mixed, partner, weight = recipe.cutmix_batch(
        images, labels, recipe.hyperparameters({"cutmix": 0}), torch.Generator()
    )

    assert mixed is images and partner is labels and weight == 1.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("members", "0", "members must be at least 1"),
        ("temperature", "0", "temperature must be positive"),
        ("cutmix", "1.5", r"cutmix is a probability in \[0, 1\]"),
    ],
)
def test_out_of_range_recipe_values_are_errors(name, value, message):
    with pytest.raises(recipe.HyperparameterError, match=message):
        recipe.hyperparameters({name: value})
