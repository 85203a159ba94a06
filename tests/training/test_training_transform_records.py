"""inference.py's Batch Transform contract: JSON lines in, CSV lines out.

SageMaker pages this contract follows:
- CreateTransformJob / TransformInput (SageMaker API reference,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html):
  SplitType Line splits an input object on newlines; with BatchStrategy MultiRecord one
  request carries as many records as fit in MaxPayloadInMB, with the job's ContentType.
- TransformOutput (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html):
  AssembleWith Line joins the answers with newlines into `<input>.out`, which exists only
  if every request for that object succeeded; so one bad line may not fail its request.

The model is the hand-built colour model served through the real training/inference.py
(tests/support/colour_model.py): reddish images lean to bicycle, bluish ones to motorcycle.
"""

from __future__ import annotations

import base64
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.support.colour_model import build_model_dir
from tests.training.training_mutmut import load_inference


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(handler module, loaded model): code/inference.py imported as the containers do."""
    model_dir = build_model_dir(tmp_path_factory.mktemp("colour"), sharpness=8.0)
    module = load_inference(model_dir)
    return module, module.model_fn(str(model_dir))


def png(rgb: tuple[int, int, int], size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def line(key: str, body: bytes) -> str:
    return json.dumps({"key": key, "image": base64.b64encode(body).decode()})


def transform(served, body: str, accept: str = "text/csv") -> tuple[list[list[str]], str]:
    handler, model = served
    data = handler.input_fn(body.encode(), "application/jsonlines")
    text, content_type = handler.output_fn(handler.predict_fn(data, model), accept)
    return list(csv.reader(io.StringIO(text))), content_type


def test_each_line_gets_key_label_and_probabilities_in_class_order(served):
    body = "\n".join(
        [line("s3://b/red.png", png((220, 10, 10))), line("s3://b/blue.png", png((10, 10, 220)))]
    )

    rows, content_type = transform(served, body + "\n")

    assert content_type == "text/csv"
    assert [r[:2] for r in rows] == [
        ["s3://b/red.png", "bicycle"],
        ["s3://b/blue.png", "motorcycle"],
    ]
    for row in rows:
        probabilities = [float(p) for p in row[2:]]
        assert len(probabilities) == 2
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert float(rows[0][2]) > 0.5 > float(rows[1][2])


def test_csv_probabilities_match_the_single_image_endpoint(served):
    handler, model = served
    image = png((180, 60, 90), size=300)  # any size is resized, as at the endpoint
    single = json.loads(
        handler.output_fn(
            handler.predict_fn(handler.input_fn(image, "image/png"), model), "application/json"
        )[0]
    )

    rows, _ = transform(served, line("k", image))

    assert [float(p) for p in rows[0][2:]] == pytest.approx(single, abs=1e-6)


def test_a_bad_line_is_a_named_error_and_costs_the_others_nothing(served):
    body = "\n".join(
        [
            line("good-1", png((200, 0, 0))),
            line("not-an-image", b"this is text, not a PNG"),
            "{not json",
            json.dumps({"key": "no-image"}),
            json.dumps({"key": "bad-base64", "image": "@@@"}),
            json.dumps(["a", "list"]),
            line("good-2", png((0, 0, 200))),
        ]
    )

    rows, _ = transform(served, body)

    assert rows == [
        rows[0],
        ["not-an-image", "error", "InvalidImageError"],
        ["", "error", "InvalidRecordError"],
        ["no-image", "error", "InvalidRecordError"],
        ["bad-base64", "error", "InvalidRecordError"],
        ["", "error", "InvalidRecordError"],
        rows[6],
    ]
    assert rows[0][:2] == ["good-1", "bicycle"]
    assert rows[6][:2] == ["good-2", "motorcycle"]


def test_keys_with_commas_and_quotes_survive_the_csv(served):
    key = 's3://bucket/a "quoted", odd key.png'

    rows, _ = transform(served, line(key, png((0, 0, 200))))

    assert rows[0][0] == key


def test_good_images_of_a_request_go_through_one_session_run(served):
    handler, model = served
    calls: list[int] = []

    class CountingSession:
        def __init__(self, session):
            self.session = session

        def run(self, outputs, feeds):
            calls.append(next(iter(feeds.values())).shape[0])
            return self.session.run(outputs, feeds)

    counted = {**model, "session": CountingSession(model["session"])}
    body = "\n".join(line(f"k{i}", png((i * 2, 0, 255 - i * 2))) for i in range(100))

    data = handler.input_fn(body.encode(), "application/jsonlines")
    handler.output_fn(handler.predict_fn(data, counted), "text/csv")

    assert calls == [100]


def test_a_request_of_only_bad_lines_still_answers_a_line_each(served):
    rows, _ = transform(served, line("a", b"junk") + "\n" + line("b", b""))

    assert rows == [["a", "error", "InvalidImageError"], ["b", "error", "InvalidRecordError"]]


def test_records_answer_csv_for_any_accept_and_refuse_json(served):
    handler, model = served
    data = handler.input_fn(line("k", png((1, 2, 3))).encode(), "application/jsonlines")
    predictions = handler.predict_fn(data, model)

    assert handler.output_fn(predictions, "*/*")[1] == "text/csv"
    assert handler.output_fn(predictions, None)[1] == "text/csv"
    with pytest.raises(handler.UnsupportedAcceptError) as error:
        handler.output_fn(predictions, "application/json")
    assert error.value.status_code == 406
    assert error.value.message == (
        "Accept 'application/json' is not supported for JSON-lines records; ask for text/csv"
    )


def test_an_empty_request_is_a_400(served):
    handler, _ = served

    with pytest.raises(handler.InvalidRecordError) as error:
        handler.input_fn(b"\n\n", "application/jsonlines")

    assert error.value.status_code == 400
    assert error.value.message == "the body has no JSON lines"


def test_probabilities_keep_six_decimals(served):
    rows, _ = transform(served, line("k", png((90, 90, 90))))

    assert all(len(p.split(".")[1]) == 6 for p in rows[0][2:])
    assert np.isclose(sum(float(p) for p in rows[0][2:]), 1.0, atol=1e-5)


def test_a_line_without_a_usable_key_is_an_error_even_with_a_good_image(served):
    image = base64.b64encode(png((200, 0, 0))).decode()
    body = "\n".join(
        [
            json.dumps({"key": 123, "image": image}),
            json.dumps({"image": image}),
            json.dumps({"key": "", "image": image}),
        ]
    )

    rows, _ = transform(served, body)

    assert rows == [["", "error", "InvalidRecordError"]] * 3


def test_a_text_body_is_read_like_its_bytes(served):
    handler, model = served
    body = line("k", png((200, 0, 0))) + "\n" + line("j", b"junk")

    from_text = handler.output_fn(
        handler.predict_fn(handler.input_fn(body, "application/jsonlines"), model), "text/csv"
    )

    assert from_text == handler.output_fn(
        handler.predict_fn(handler.input_fn(body.encode(), "application/jsonlines"), model),
        "text/csv",
    )


def test_csv_lines_end_with_a_bare_newline(served):
    """AssembleWith Line joins the answers with newlines: no carriage return inside a line."""
    handler, model = served
    body = line("a", png((200, 0, 0))) + "\n" + line("b", b"junk")

    text, _ = handler.output_fn(
        handler.predict_fn(handler.input_fn(body.encode(), "application/jsonlines"), model),
        "text/csv",
    )

    assert "\r" not in text
    assert text.endswith("\n")
    assert text.split("\n")[1:] == ["b,error,InvalidImageError", ""]


def test_records_are_decoded_to_a_float32_batch_of_the_good_lines_only(served):
    handler, _ = served

    good = handler.input_fn(
        (line("a", png((255, 0, 0))) + "\n" + line("b", b"junk")).encode(), "application/jsonlines"
    )
    none_good = handler.input_fn(line("b", b"junk").encode(), "application/jsonlines")

    assert (good.keys, good.errors) == (["a", "b"], {1: "InvalidImageError"})
    assert good.pixels.shape == (1, 3, 32, 32) and good.pixels.dtype == np.float32
    assert (good.pixels[0, 0] == 1.0).all() and (good.pixels[0, 1:] == 0.0).all()
    assert none_good.pixels.shape == (0, 3, 32, 32) and none_good.pixels.dtype == np.float32


def test_a_request_of_only_bad_lines_never_calls_the_model(served):
    handler, model = served
    calls: list[int] = []

    class CountingSession:
        def run(self, outputs, feeds):
            calls.append(next(iter(feeds.values())).shape[0])
            return model["session"].run(outputs, feeds)

    counted = {**model, "session": CountingSession()}
    data = handler.input_fn(line("a", b"junk").encode(), "application/jsonlines")

    predictions = handler.predict_fn(data, counted)

    assert calls == []
    assert predictions.probabilities.shape == (0, 2)
    assert predictions.probabilities.dtype == np.float32
