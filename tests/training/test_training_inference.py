"""The inference handler, loaded from the artifact as every server loads it: real PNGs,
a JPEG, a 300x200 image, a non-image (400) and a wrong content type (415)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.artifact import load_inference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def handler(model_dir: Path):
    """code/inference.py imported from the model directory, as the containers do."""
    return load_inference(model_dir)


@pytest.fixture(scope="module")
def model(handler, model_dir: Path):
    return handler.model_fn(str(model_dir))


@pytest.fixture(scope="module")
def test_images(etl_output: Path) -> list[tuple[bytes, int]]:
    lines = (etl_output / "test.lst").read_text().splitlines()
    return [
        ((etl_output / "test" / path).read_bytes(), int(label))
        for _, label, path in (line.split("\t") for line in lines)
    ]


def classify(handler, model, body: bytes, content_type: str, accept: str = "application/json"):
    return handler.output_fn(
        handler.predict_fn(handler.input_fn(body, content_type), model), accept
    )


def test_png_gets_a_json_list_of_probabilities_in_class_order(handler, model, test_images):
    body, content_type = classify(handler, model, test_images[0][0], "image/png")

    probabilities = json.loads(body)
    assert content_type == "application/json"
    assert len(probabilities) == 2
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_handler_accuracy_on_test_pngs_matches_training_evaluation(
    handler, model, test_images, local_run
):
    correct = [
        int(np.argmax(json.loads(classify(handler, model, body, "image/png")[0]))) == label
        for body, label in test_images
    ]

    assert np.mean(correct) == pytest.approx(local_run["metrics"]["test_accuracy"], abs=0.011)


def test_jsonlines_accept_gives_one_prediction_line(handler, model, test_images):
    body, content_type = classify(
        handler, model, test_images[0][0], "image/png", "application/jsonlines"
    )

    (line,) = body.splitlines()
    assert content_type == "application/jsonlines"
    assert len(json.loads(line)["prediction"]) == 2


def test_jpeg_is_classified_like_its_png(handler, model, test_images):
    png = test_images[0][0]
    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).save(buffer, format="JPEG", quality=95)

    from_png = json.loads(classify(handler, model, png, "image/png")[0])
    from_jpeg = json.loads(classify(handler, model, buffer.getvalue(), "image/jpeg")[0])
    assert np.argmax(from_jpeg) == np.argmax(from_png)
    assert from_jpeg == pytest.approx(from_png, abs=0.15)


def test_300x200_image_is_resized_to_the_model_input(handler, model, test_images):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(test_images[1][0])).resize((300, 200)).save(buffer, format="PNG")

    batch = handler.input_fn(buffer.getvalue(), "image/png")
    probabilities = json.loads(
        classify(handler, model, buffer.getvalue(), "application/x-image")[0]
    )
    assert batch.shape == (1, 3, 32, 32)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_non_image_body_is_a_400(handler):
    with pytest.raises(handler.InvalidImageError) as raised:
        handler.input_fn(b"this is not an image", "image/png")

    assert raised.value.status_code == 400
    assert json.loads(raised.value.to_json())["error"] == "InvalidImageError"


def test_truncated_png_is_a_400(handler, test_images):
    with pytest.raises(handler.InvalidImageError):
        handler.input_fn(test_images[0][0][:60], "image/png")


def test_empty_body_is_a_400(handler):
    with pytest.raises(handler.InvalidImageError):
        handler.input_fn(b"", "image/jpeg")


def test_wrong_content_type_is_a_415(handler, test_images):
    with pytest.raises(handler.UnsupportedContentTypeError) as raised:
        handler.input_fn(test_images[0][0], "application/json")

    assert raised.value.status_code == 415


def test_content_type_parameters_are_ignored(handler, test_images):
    batch = handler.input_fn(test_images[0][0], "image/png; charset=binary")

    assert batch.shape == (1, 3, 32, 32)


def test_unsupported_accept_is_a_406(handler, model, test_images):
    prediction = handler.predict_fn(handler.input_fn(test_images[0][0], "image/png"), model)

    with pytest.raises(handler.UnsupportedAcceptError) as raised:
        handler.output_fn(prediction, "text/csv")
    assert raised.value.status_code == 406


def test_model_fn_on_a_folder_without_a_model_fails_clearly(handler, tmp_path):
    with pytest.raises(handler.ModelLoadError, match=r"no model\.onnx"):
        handler.model_fn(str(tmp_path))


def test_handler_serves_without_torch(model_dir, test_images, tmp_path):
    image = tmp_path / "image.png"
    image.write_bytes(test_images[0][0])
    script = (
        "import sys; sys.path.insert(0, sys.argv[1] + '/code'); import inference as h\n"
        "m = h.model_fn(sys.argv[1])\n"
        "body = open(sys.argv[2], 'rb').read()\n"
        "print(h.output_fn(h.predict_fn(h.input_fn(body, 'image/png'), m), None)[0])\n"
        "assert 'torch' not in sys.modules, 'the handler imported torch'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), str(image)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2
