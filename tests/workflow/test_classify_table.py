"""`make classify`'s table and exit status from fixed rows (no cloud)."""

from __future__ import annotations

from workflow.classify import TABLE_WIDTH, Row, format_table, report, summary_line

LOW_CAUSE = "label motorcycle with confidence 0.6123 is below the threshold 0.93"


def test_low_confidence_rows_show_the_label_and_confidence_from_the_filter_message():
    single = Row("s3://b/inputs/x/a.png", "error", detail=LOW_CAUSE, error="ThresholdNotMetError")
    batch = Row("s3://b/inputs/x/b.png", "low_confidence", detail=LOW_CAUSE)

    for row in (single, batch):
        assert (row.status, row.outcome) == ("low_confidence", "low confidence")
        assert (row.label, row.confidence) == ("motorcycle", 0.6123)
        assert not row.workflow_failed


def test_table_has_names_not_uris_and_fits_100_columns():
    rows = [
        Row("s3://bucket/inputs/20250101-000000-abcdef/" + "long" * 30 + ".png", "passed",
            "bicycle", 0.99871),
        Row("s3://bucket/inputs/r/b.png", "low_confidence", detail=LOW_CAUSE),
        Row("s3://bucket/inputs/r/c.png", "error", detail="x" * 300, error="UnsupportedImageError"),
    ]  # fmt: skip

    lines = format_table(rows)

    assert lines[0].split() == ["image", "label", "confidence", "outcome"]
    assert all(len(line) <= TABLE_WIDTH for line in lines), [len(line) for line in lines]
    assert not any("s3://" in line for line in lines)
    assert lines[1].split()[1:] == ["bicycle", "0.9987", "passed"]
    assert lines[2].split() == ["b.png", "motorcycle", "0.6123", "low", "confidence"]
    assert lines[3].split()[:4] == ["c.png", "-", "-", "UnsupportedImageError"]


def test_exit_status_is_0_for_outcomes_and_1_when_the_workflow_failed(capsys):
    outcomes = [
        Row("s3://b/k/a.png", "passed", "bicycle", 0.99),
        Row("s3://b/k/b.png", "low_confidence", detail=LOW_CAUSE),
        Row("s3://b/k/c.png", "error", error="ImageNotFoundError"),
    ]
    failed = [*outcomes, Row("s3://b/k/d.png", "error", error="EndpointUnavailableError")]

    assert report(outcomes, "execution: arn") == 0
    assert report(failed, "execution: arn") == 1
    assert summary_line(failed) == (
        "4 images: 1 passed, 1 low confidence, 1 not classifiable, 1 failed in the workflow"
    )
    assert "execution: arn" in capsys.readouterr().out
