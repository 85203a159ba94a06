"""inference.py's single-image contract, in-process on the hand-built colour model.

The colour model (tests/support/colour_model.py) has known logits, sharpness x (mean red,
mean blue) of the normalised image, so every probability here is computed independently
with numpy. test_training_inference.py checks the same contract on a trained model (slow:
it trains one first); these run in a second and are what `make mutation` runs against
inference.py's mutants.

Content types and statuses: the SageMaker PyTorch serving container calls input_fn with
the request's Content-Type and output_fn with its Accept, and answers the status of an
error derived from the inference toolkit's BaseInferenceToolkitError (sagemaker-inference
errors.py: `status_code`, `message`, `phrase`).
"""

from __future__ import annotations

import io
import json
import struct
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from tests.support.colour_model import build_model_dir
from tests.training.training_mutmut import load_inference

SHARPNESS = 8.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(handler module, loaded model) of the colour model: input 32x32, no normalisation."""
    model_dir = build_model_dir(tmp_path_factory.mktemp("colour"), sharpness=SHARPNESS)
    module = load_inference(model_dir)
    return module, module.model_fn(str(model_dir))


def png(rgb: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def expected(
    rgb: tuple[int, int, int],
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> list[float]:
    """The colour model's probabilities for a solid colour, with numpy alone."""
    red, blue = ((rgb[0] / 255 - mean[0]) / std[0]), ((rgb[2] / 255 - mean[2]) / std[2])
    logits = SHARPNESS * np.array([red, blue])
    exp = np.exp(logits - logits.max())
    return list(exp / exp.sum())


def classify(served, body: bytes, content_type: str = "image/png", accept: str | None = None):
    handler, model = served
    return handler.output_fn(
        handler.predict_fn(handler.input_fn(body, content_type), model), accept
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height whose pixel data is one empty deflate stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_png_answers_the_models_probabilities_as_a_json_list(served):
    body, content_type = classify(served, png((200, 30, 60)), accept="application/json")

    assert content_type == "application/json"
    assert json.loads(body) == pytest.approx(expected((200, 30, 60)), abs=1e-6)


def test_no_accept_or_any_accept_answers_json(served):
    for accept in (None, "", "*/*"):
        body, content_type = classify(served, png((10, 0, 90)), accept=accept)

        assert content_type == "application/json"
        assert json.loads(body) == pytest.approx(expected((10, 0, 90)), abs=1e-6)


@pytest.mark.parametrize(
    "accept", ["application/jsonlines", "application/x-jsonlines", "application/jsonl"]
)
def test_jsonlines_accept_answers_one_prediction_line_in_that_type(served, accept):
    body, content_type = classify(served, png((90, 0, 10)), accept=f"{accept}; charset=utf-8")

    assert content_type == accept
    assert body.endswith("\n")
    (line,) = body.splitlines()
    assert json.loads(line) == {"prediction": pytest.approx(expected((90, 0, 10)), abs=1e-6)}


def test_a_batch_of_two_answers_a_list_per_image(served):
    handler, model = served
    batch = np.concatenate(
        [
            handler.input_fn(png((250, 0, 0)), "image/png"),
            handler.input_fn(png((0, 0, 250)), "image/png"),
        ]
    )

    body, _ = handler.output_fn(handler.predict_fn(batch, model), "application/json")

    assert json.loads(body) == [
        pytest.approx(expected((250, 0, 0)), abs=1e-6),
        pytest.approx(expected((0, 0, 250)), abs=1e-6),
    ]


def test_jsonlines_accept_answers_a_line_per_image_of_a_batch(served):
    handler, model = served
    batch = np.concatenate(
        [
            handler.input_fn(png((250, 0, 0)), "image/png"),
            handler.input_fn(png((0, 0, 250)), "image/png"),
        ]
    )

    body, _ = handler.output_fn(handler.predict_fn(batch, model), "application/jsonlines")

    assert [json.loads(line) for line in body.split("\n")[:-1]] == [
        {"prediction": pytest.approx(expected((250, 0, 0)), abs=1e-6)},
        {"prediction": pytest.approx(expected((0, 0, 250)), abs=1e-6)},
    ]
    assert body.endswith("}\n")


def test_unsupported_accept_is_a_406_naming_what_is_supported(served):
    handler, model = served
    prediction = handler.predict_fn(handler.input_fn(png((1, 2, 3)), "image/png"), model)

    with pytest.raises(handler.UnsupportedAcceptError) as raised:
        handler.output_fn(prediction, "text/csv")

    assert raised.value.status_code == 406
    assert raised.value.phrase == "Not Acceptable"
    assert "'text/csv' is not supported" in raised.value.message
    assert "application/json, application/jsonl" in raised.value.message


def test_image_input_is_scaled_to_0_1_in_channel_first_order(served):
    handler, _ = served

    batch = handler.input_fn(png((255, 51, 0)), "image/png")

    assert batch.shape == (1, 3, 32, 32)
    assert batch.dtype == np.float32
    assert (batch[0, 0] == 1.0).all() and (batch[0, 1] == np.float32(0.2)).all()
    assert (batch[0, 2] == 0.0).all()


def test_a_larger_image_is_resized_to_the_model_input(served):
    handler, _ = served

    batch = handler.input_fn(png((255, 51, 0), size=(300, 200)), "image/png")

    assert batch.shape == (1, 3, 32, 32)
    assert (batch[0, 0] == 1.0).all() and (batch[0, 2] == 0.0).all()


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/x-image", "IMAGE/PNG; x=1"])
def test_every_image_content_type_is_served_whatever_its_case_and_parameters(served, content_type):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (250, 0, 0)).save(buffer, format="JPEG", quality=95)

    body, _ = classify(served, buffer.getvalue(), content_type, "application/json")

    assert json.loads(body) == pytest.approx(expected((250, 0, 0)), abs=0.02)


def test_grey_and_palette_images_are_converted_to_rgb(served):
    buffer = io.BytesIO()
    Image.new("L", (32, 32), 128).save(buffer, format="PNG")

    batch = served[0].input_fn(buffer.getvalue(), "image/png")

    assert batch.shape == (1, 3, 32, 32)
    assert np.allclose(batch, 128 / 255)


def test_wrong_content_type_is_a_415_naming_the_supported_ones(served):
    handler, _ = served

    with pytest.raises(handler.UnsupportedContentTypeError) as raised:
        handler.input_fn(png((1, 2, 3)), "application/json")

    assert raised.value.status_code == 415
    assert raised.value.phrase == "Unsupported Media Type"
    assert raised.value.message == (
        "content type 'application/json' is not supported; send one of: "
        "application/x-image, image/jpeg, image/png"
    )
    assert json.loads(raised.value.to_json()) == {
        "error": "UnsupportedContentTypeError",
        "message": raised.value.message,
    }
    assert str(raised.value) == raised.value.message  # what a server's log line shows


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("text, not bytes", "the body is text, not image bytes"),
        (b"", "the body is empty"),
        (b"not an image at all", "the body is not a decodable PNG or JPEG image"),
        (png((9, 9, 9))[:60], "the body is not a decodable PNG or JPEG image"),
    ],
    ids=["text", "empty", "not-an-image", "truncated-png"],
)
def test_a_body_that_is_no_image_is_a_400_saying_why(served, body, says):
    handler, _ = served

    with pytest.raises(handler.InvalidImageError) as raised:
        handler.input_fn(body, "image/png")

    assert raised.value.status_code == 400
    assert raised.value.phrase == "Bad Request"
    assert raised.value.message.startswith(says)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(served):
    handler, _ = served
    width = 8000
    height = handler.MAX_PIXELS // width + 1

    with pytest.raises(handler.InvalidImageError) as raised:
        handler.input_fn(png_header_only(width, height), "image/png")

    assert raised.value.message == f"image of {width}x{height} is too large"


def test_an_image_at_the_pixel_limit_is_decoded(served):
    handler, _ = served
    width = 8000
    height = handler.MAX_PIXELS // width

    with pytest.raises(handler.InvalidImageError) as raised:  # no pixel data to decode
        handler.input_fn(png_header_only(width, height), "image/png")

    assert "too large" not in raised.value.message
    assert raised.value.message.startswith("the body is not a decodable PNG or JPEG image")


def test_input_of_another_shape_than_the_models_is_a_400(served):
    handler, model = served

    with pytest.raises(handler.InvalidImageError) as raised:
        handler.predict_fn(np.zeros((1, 3, 16, 32), dtype=np.float32), model)

    assert raised.value.message == (
        "input of shape (1, 3, 16, 32) does not match the model's (32, 32)"
    )


def renormalised_model_dir(
    root: Path, mean: list[float], std: list[float], size: tuple[int, int]
) -> Path:
    """The colour model with another per-channel normalisation and a height x width input."""
    model_dir = build_model_dir(root, sharpness=SHARPNESS)
    graph = onnx.load(model_dir / "model.onnx")
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = size
    onnx.save(graph, model_dir / "model.onnx")
    metadata = json.loads((model_dir / "metadata.json").read_text())
    metadata["input_size"] = list(size)
    metadata["normalization"] = {"mean": mean, "std": std}
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    return model_dir


def test_the_models_normalisation_and_input_size_come_from_its_metadata(tmp_path):
    mean, std = (0.5, 0.4, 0.1), (0.25, 0.5, 0.2)
    model_dir = renormalised_model_dir(tmp_path, list(mean), list(std), size=(16, 24))
    handler = load_inference(model_dir)
    model = handler.model_fn(str(model_dir))

    batch = handler.input_fn(png((200, 30, 60)), "image/png")
    square = handler.input_fn(png((200, 30, 60), size=(24, 24)), "image/png")
    body, _ = handler.output_fn(handler.predict_fn(batch, model), "application/json")

    assert batch.shape == square.shape == (1, 3, 16, 24)
    assert model["size"] == (16, 24)
    assert json.loads(body) == pytest.approx(expected((200, 30, 60), mean, std), abs=1e-5)


def test_an_image_of_another_size_is_resized_bilinear(served):
    """What the endpoint serves for a photo of any size is pinned: a resampling filter
    changes the pixels the model sees, so it changes the answers."""
    gradient = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    gradient[::2, ::3] = 255 - gradient[::2, ::3]  # edges, where filters differ
    image = Image.fromarray(gradient, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    batch = served[0].input_fn(buffer.getvalue(), "image/png")

    bilinear = np.asarray(image.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    assert np.array_equal(batch[0], bilinear.transpose(2, 0, 1) / 255.0)


@pytest.mark.parametrize("missing", ["model.onnx", "metadata.json"])
def test_model_fn_on_an_incomplete_folder_says_what_is_missing(served, tmp_path, missing):
    model_dir = build_model_dir(tmp_path, sharpness=SHARPNESS)
    (model_dir / missing).unlink()

    with pytest.raises(served[0].ModelLoadError) as raised:
        served[0].model_fn(str(model_dir))

    assert str(raised.value) == (
        f"{model_dir} has no {missing}: not a model artifact of this project"
    )


def test_onnx_threads_come_from_the_environment(served, tmp_path, monkeypatch):
    model_dir = build_model_dir(tmp_path, sharpness=SHARPNESS)
    monkeypatch.setenv("SCONES_ONNX_THREADS", "3")

    session = served[0].model_fn(str(model_dir))["session"]

    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_model_fn_without_onnxruntime_says_how_to_repack(served, tmp_path, monkeypatch):
    model_dir = build_model_dir(tmp_path, sharpness=SHARPNESS)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails

    with pytest.raises(served[0].ModelLoadError) as raised:
        served[0].model_fn(str(model_dir))

    assert str(raised.value) == (
        "onnxruntime is not installed and the artifact has no code/lib; repack with "
        "`python -m training pack --vendor-onnxruntime` for containers without it"
    )


def test_model_fn_asks_onnx_runtime_only_for_a_provider_it_has(served, tmp_path):
    """onnxruntime warns and falls back when asked for a provider it lacks
    (onnxruntime_inference_collection.py, check_and_normalize_provider_args)."""
    model_dir = build_model_dir(tmp_path, sharpness=SHARPNESS)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session = served[0].model_fn(str(model_dir))["session"]

    assert session.get_providers() == ["CPUExecutionProvider"]
