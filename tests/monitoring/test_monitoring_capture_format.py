"""The capture format: what the local cloud writes is what SageMaker writes and the report reads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitoring.capture import (
    MAX_LINE_BYTES,
    CaptureFormatError,
    LineStatus,
    NonJsonOutputError,
    capture_line,
    capture_object_key,
    capture_record,
    hour_of_key,
    iter_capture_lines,
    parse_capture_line,
)
from tests.support.cifar import png_bytes

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def test_record_has_sagemakers_shape_and_encodings(train_images):
    png = png_bytes(train_images[0])
    record = capture_record(
        png, "image/png", "[0.97, 0.03]", "application/json", event_id="e-1", inference_time=WHEN
    )
    assert record == {
        "captureData": {
            "endpointInput": {
                "observedContentType": "image/png",
                "mode": "INPUT",
                "data": base64.b64encode(png).decode(),
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": "[0.97, 0.03]",
                "encoding": "JSON",
            },
        },
        "eventMetadata": {"eventId": "e-1", "inferenceTime": "2026-01-02T03:04:05Z"},
        "eventVersion": "0",
    }


def test_written_record_reads_back_to_the_same_request(train_images):
    png = png_bytes(train_images[1])
    line = capture_line(
        capture_record(
            png, "image/png", "[0.2, 0.8]", "application/json", event_id="e-2", inference_time=WHEN
        )
    )
    parsed = parse_capture_line(line.rstrip(b"\n"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parsed.input_body == png
    assert parsed.probabilities == (0.2, 0.8)
    assert parsed.confidence == 0.8 and parsed.predicted_index == 1
    assert parsed.inference_time == WHEN.replace(microsecond=0)


def test_object_key_follows_the_capture_layout():
    key = capture_object_key("data-capture/", "scones", "AllTraffic", WHEN, "abc-123")
    assert key == "data-capture/scones/AllTraffic/2026/01/02/03/04-05-678-abc-123.jsonl"
    assert hour_of_key(key) == datetime(2026, 1, 2, 3, tzinfo=UTC)


def test_object_key_converts_other_timezones_to_utc():
    plus_two = timezone(timedelta(hours=2))
    key = capture_object_key("", "ep", "v", datetime(2026, 1, 2, 5, 0, tzinfo=plus_two), "u")
    assert key == "ep/v/2026/01/02/03/00-00-000-u.jsonl"


def test_naive_times_are_taken_as_utc():
    record = capture_record(
        b"x",
        "image/png",
        "[1.0]",
        "application/json",
        event_id="e",
        inference_time=datetime(2026, 5, 6, 7, 8, 9),
    )
    assert record["eventMetadata"]["inferenceTime"] == "2026-05-06T07:08:09Z"


@pytest.mark.parametrize("bad", [{"endpoint": ""}, {"variant": "a/b"}, {"prefix": "s3://b/p"}])
def test_object_key_rejects_names_that_break_the_layout(bad):
    args = {"prefix": "p", "endpoint": "ep", "variant": "v", "when": WHEN, "uuid": "u"} | bad
    with pytest.raises(ValueError):
        capture_object_key(**args)


def test_lines_split_across_chunks_come_out_whole():
    data = b'{"a":1}\n{"b":2}\n\n{"c":3}\n'
    chunks = [data[i : i + 3] for i in range(0, len(data), 3)]
    assert list(iter_capture_lines(chunks)) == [
        (b'{"a":1}', LineStatus.COMPLETE),
        (b'{"b":2}', LineStatus.COMPLETE),
        (b'{"c":3}', LineStatus.COMPLETE),
    ]


def test_last_line_without_newline_is_marked_unterminated():
    assert list(iter_capture_lines([b'{"a":1}\n{"b":'])) == [
        (b'{"a":1}', LineStatus.COMPLETE),
        (b'{"b":', LineStatus.UNTERMINATED),
    ]


def test_oversized_line_is_dropped_without_holding_it():
    big = b"x" * (MAX_LINE_BYTES // 4)
    chunks = [b'{"a":1}\n', *([big] * 5), b"\n", b'{"b":2}\n']
    assert list(iter_capture_lines(chunks)) == [
        (b'{"a":1}', LineStatus.COMPLETE),
        (b"", LineStatus.OVERSIZED),
        (b'{"b":2}', LineStatus.COMPLETE),
    ]


def _line(output: dict | None = None, **meta) -> bytes:
    record = capture_record(
        b"img", "image/png", "[0.9, 0.1]", "application/json", event_id="e", inference_time=WHEN
    )
    if output is not None:
        record["captureData"]["endpointOutput"] = output
    record["eventMetadata"].update(meta)
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    "output",
    [
        {"observedContentType": "text/html", "data": "<html>oops</html>", "encoding": "JSON"},
        {"observedContentType": "application/json", "data": '{"error": "x"}', "encoding": "JSON"},
        {"observedContentType": "application/json", "data": "[1.5, -0.5]", "encoding": "JSON"},
        {"observedContentType": "application/json", "data": "[]", "encoding": "JSON"},
    ],
)
def test_output_that_is_not_json_probabilities_is_its_own_error(output):
    with pytest.raises(NonJsonOutputError):
        parse_capture_line(_line(output))


def test_base64_encoded_and_jsonlines_outputs_are_read():
    data = base64.b64encode(b'{"prediction": [0.25, 0.75]}').decode()
    output = {"observedContentType": "application/jsonlines", "data": data, "encoding": "BASE64"}
    assert parse_capture_line(_line(output)).probabilities == (0.25, 0.75)


@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1, 2]", b'{"captureData": {}}', _line(inferenceTime="yesterday")],
)
def test_lines_that_are_not_capture_records_are_format_errors(line):
    with pytest.raises(CaptureFormatError) as info:
        parse_capture_line(line)
    assert not isinstance(info.value, NonJsonOutputError)
