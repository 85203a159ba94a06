"""The plots' time axes and titles on a few seconds of captures (10 requests, 1 s apart)."""

from __future__ import annotations

import matplotlib.dates as mdates
import pytest

from monitoring import plots
from tests.monitoring.monitoring_captures import (
    PREFIX,
    capture_objects,
    requests_from,
    write_objects,
)
from tests.monitoring.monitoring_run import make_report_args, run_cli


@pytest.fixture
def figures(held_out_images, manifest_path, tmp_path, monkeypatch) -> dict[str, object]:
    """The report's figures (before they become PNGs) for 10 requests over 9 seconds."""
    captured = {}
    real_png = plots.figure_png

    def keep(fig):
        captured[fig.axes[0].get_title(loc="left")] = fig
        return real_png(fig)

    monkeypatch.setattr(plots, "figure_png", keep)
    root = write_objects(
        tmp_path / "capture", capture_objects(requests_from(held_out_images[:10], spacing_s=1), 5)
    )
    ran = run_cli(make_report_args(root / PREFIX, manifest_path, tmp_path))
    assert ran.code == 0, ran.stderr
    return captured


def _time_axes(figures):
    for title, fig in figures.items():
        for ax in fig.axes:
            if isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter):
                yield title, ax


def test_time_axes_span_the_seconds_of_data_not_years(figures):
    axes = list(_time_axes(figures))
    assert len(axes) == 5  # confidence over time and class mix (2 shared each), drift
    for title, ax in axes:
        left, right = ax.get_xlim()
        span_s = (right - left) * 86400
        assert 9 <= span_s <= 30, (title, span_s)


def test_titles_say_the_span_bucket_and_real_point_size(figures):
    titles = list(figures)
    confidence = next(t for t in titles if t.startswith("Confidence over time"))
    assert confidence.endswith("10 requests over 9 s, in 1 s buckets")
    drift = next(t for t in titles if t.startswith("Input drift"))
    assert "1 point of 10 images; 50 needed to judge" in drift
    assert "50+" not in drift
