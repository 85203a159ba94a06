"""Bad captures are counted and shown, never a crash; a missing capture says what to check."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.aggregate import MAX_EXAMPLES, Aggregator
from monitoring.capture import LineStatus, capture_line, capture_object_key
from tests.monitoring.monitoring_captures import (
    ENDPOINT,
    PREFIX,
    START,
    VARIANT,
    record_for,
    requests_from,
    write_objects,
)
from tests.monitoring.monitoring_run import run_cli


def _key(minute: int, name: str) -> str:
    return capture_object_key(PREFIX, ENDPOINT, VARIANT, START + timedelta(minutes=minute), name)


@pytest.fixture(scope="module")
def messy_root(tmp_path_factory, held_out_images) -> Path:
    """Objects with every kind of damage, next to 12 good records."""
    good = [capture_line(record_for(r)) for r in requests_from(held_out_images[:12])]
    non_json = record_for(requests_from(held_out_images[:1])[0])
    non_json["captureData"]["endpointOutput"]["data"] = "<html>502 Bad Gateway</html>"
    not_an_image = record_for(requests_from(held_out_images[:1])[0])
    not_an_image["captureData"]["endpointInput"]["data"] = "bm90IGFuIGltYWdl"  # "not an image"
    no_input = record_for(requests_from(held_out_images[:1])[0])
    del no_input["captureData"]["endpointInput"]
    no_output = record_for(requests_from(held_out_images[:1])[0])
    del no_output["captureData"]["endpointOutput"]
    objects = {
        # 5 good, 2 lines that are not records, 1 non-JSON output, a blank line
        _key(1, "a"): b"".join(good[:5])
        + b"this is not json\n"
        + b'{"eventVersion": "0"}\n'
        + capture_line(non_json)
        + b"\n",
        # 3 good and a last record cut off half way: a truncated object
        _key(2, "b"): b"".join(good[5:8]) + good[8][: len(good[8]) // 2],
        # empty object
        _key(3, "c"): b"",
        # a good last line without its newline is complete, not truncated
        _key(4, "d"): good[8] + good[9].rstrip(b"\n"),
        # records whose input cannot be measured still count as requests
        _key(5, "e"): capture_line(not_an_image) + capture_line(no_input) + good[10] + good[11],
        # capture mode Input only: nothing to measure confidence on
        _key(6, "f"): capture_line(no_output),
    }
    root = tmp_path_factory.mktemp("messy")
    write_objects(root, objects)
    return root / PREFIX


@pytest.fixture(scope="module")
def messy_report(messy_root, manifest_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("messy-report")
    return run_cli(
        [
            "report",
            "--capture-dir",
            str(messy_root),
            "--endpoint",
            ENDPOINT,
            "--manifest",
            str(manifest_path),
            "--out",
            str(out),
        ]
    )


def test_messy_capture_still_makes_a_report(messy_report):
    assert messy_report.code == 0
    assert messy_report.stderr == ""
    assert (messy_report.out / "index.html").is_file()


def test_every_kind_of_damage_is_counted(messy_report):
    q = messy_report.summary()["quality"]
    assert q["objects"] == 6
    assert q["malformed_lines"] == 2
    assert q["non_json_outputs"] == 1
    assert q["truncated_objects"] == 1
    assert q["undecodable_inputs"] == 1
    assert q["records_without_input"] == 1
    assert q["records_without_output"] == 1
    assert q["valid_records"] == 5 + 3 + 2 + 4


def test_requests_without_a_usable_image_count_but_are_not_measured(messy_report):
    s = messy_report.summary()
    assert s["records"] == 14
    assert s["drift"]["images"] == 12


def test_damage_is_listed_in_the_page_with_where_it_is(messy_report):
    html = (messy_report.out / "index.html").read_text()
    table = html[html.index("<h2>Data quality</h2>") :]
    assert "outputs that are not JSON class probabilities</td><td class=n>1<" in table
    assert "truncated objects (last line cut off)</td><td class=n>1<" in table
    assert "lines that are not capture records</td><td class=n>2<" in table
    assert f"{VARIANT}/2026/03/01/09/01-00-000-a.jsonl:6" in table


def test_damage_is_summed_up_in_the_printed_summary(messy_report):
    assert "data quality: 2 lines that are not capture records; 1 outputs" in messy_report.stdout


def test_no_capture_at_all_says_what_to_check_and_exits_1(tmp_path):
    (tmp_path / "capture").mkdir()
    ran = run_cli(
        [
            "report",
            "--capture-dir",
            str(tmp_path / "capture"),
            "--endpoint",
            "never-called",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert ran.code == 1
    assert "no captured data found" in ran.stdout
    assert "sampling percentage" in ran.stdout
    assert "capture enabled" in ran.stdout.replace("data capture enabled", "capture enabled")
    assert ran.summary()["status"] == "no_capture"
    assert "No captured data at" in (ran.out / "index.html").read_text()


def test_empty_window_is_a_report_with_no_requests(report_args):
    ran = run_cli([*report_args, "--since", "2030-01-01T00:00:00Z"])
    s = ran.summary()
    assert ran.code == 0
    assert s["status"] == "no_data"
    assert s["records"] == 0
    assert s["confidence"]["mean"] is None
    assert "no valid request falls in this window" in (ran.out / "index.html").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not an ISO 8601 time"),
        (["--since", "2026-03-02T00:00:00Z", "--until", "2026-03-01T00:00:00Z"], "is not before"),
        (["--threshold", "1.5"], "threshold must be in (0, 1]"),
        (["--manifest", "/nonexistent/manifest.json"], "/nonexistent/manifest.json does not exist"),
    ],
)
def test_bad_flags_fail_with_one_line_and_write_nothing(report_args, extra, message):
    ran = run_cli([*report_args, *extra])
    assert ran.code == 2
    assert ran.stderr.startswith("error: ") and message in ran.stderr
    assert ran.stderr.count("\n") == 1
    assert not (ran.out / "index.html").exists()


def test_no_location_anywhere_names_the_flag_to_pass(tmp_path):
    ran = run_cli(["report", "--terraform-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert ran.code == 2
    assert "no capture location: pass --s3-uri s3://bucket/prefix" in ran.stderr


def test_output_folder_that_is_a_file_fails_before_reading(report_args, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    args = [*report_args]
    args[args.index("--out") + 1] = str(blocker / "report")
    ran = run_cli(args)
    assert ran.code == 2
    assert "cannot create output folder" in ran.stderr


def test_manifest_without_pixel_statistics_is_refused_when_asked_for(report_args, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"classes": ["bicycle", "motorcycle"]}))
    args = [*report_args]
    args[args.index("--manifest") + 1] = str(manifest)
    ran = run_cli(args)
    assert ran.code == 2
    assert "no pixel statistics" in ran.stderr


def test_object_gone_between_listing_and_reading_is_counted_as_unreadable(
    capture_objects_200, tmp_path
):
    from monitoring.report import scan
    from monitoring.settings import ReportSettings
    from monitoring.sources import DirectorySource
    from monitoring.summary import Limits

    root = write_objects(tmp_path, capture_objects_200) / PREFIX / ENDPOINT
    source = DirectorySource(root)
    objects = source.list(None, None)
    (root / objects[0].key).unlink()
    settings = ReportSettings(
        location=str(root), endpoint=None, since=None, until=None, limits=Limits(),
        manifest=None, manifest_explicit=False, out=tmp_path / "out",
    )  # fmt: skip
    agg = scan(settings, source, objects)
    assert agg.quality.unreadable_objects == 1
    assert agg.count == 200 - 25


def test_each_kind_of_damage_lists_its_first_places_under_its_name():
    agg = Aggregator(threshold=0.93)
    for i in range(MAX_EXAMPLES + 2):
        agg.add_line(b"this is not json", LineStatus.COMPLETE, f"object.jsonl:{i + 1}")
    agg.add_line(b"", LineStatus.OVERSIZED, "big.jsonl:1")

    assert agg.quality.malformed_lines == MAX_EXAMPLES + 2
    assert agg.quality.examples == {
        "malformed_lines": [f"object.jsonl:{i + 1}" for i in range(MAX_EXAMPLES)],
        "oversized_lines": ["big.jsonl:1"],
    }
