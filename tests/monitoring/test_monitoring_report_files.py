"""The files: valid PNG plots, and one HTML page that needs nothing but itself."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from monitoring.plots import PLOT_FILES
from tests.monitoring.monitoring_run import run_cli


def _open_png(data: bytes) -> Image.Image:
    Image.open(io.BytesIO(data)).verify()  # checks the whole file, then the object is spent
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


@pytest.mark.parametrize("name", sorted(PLOT_FILES.values()))
def test_each_plot_is_a_valid_png_with_something_drawn(default_report, name):
    image = _open_png((default_report.out / name).read_bytes())
    assert image.width >= 800 and image.height >= 250
    pixels = np.asarray(image)
    assert (pixels.min(axis=2) < 200).mean() > 0.02  # more than a title on white


def test_figures_have_the_size_they_are_drawn_at(default_report):
    # 10 x 5.6 inches at 110 dpi; the strip: 6 tiles of 128 px a row, 12 images in 2 rows
    sizes = {n: Image.open(default_report.out / f).size for n, f in PLOT_FILES.items()}
    assert sizes["confidence_over_time"] == (1100, 616)
    assert sizes["lowest_confidence"] == (880, 418)


def test_page_embeds_every_image_and_links_to_nothing(default_report):
    html = (default_report.out / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == 4 + 12  # four figures and the twelve lowest-confidence images
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        _open_png(base64.b64decode(src.split(",", 1)[1]))
    assert not re.search(r"<link|<script|href=|url\(|https?://", html)


def test_page_figures_are_the_written_pngs(default_report):
    html = (default_report.out / "index.html").read_text()
    for name in ("confidence_over_time", "confidence_histogram", "class_mix", "drift"):
        png = (default_report.out / PLOT_FILES[name]).read_bytes()
        assert f'alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}"' in html


def test_no_temporary_files_are_left_behind(default_report):
    names = sorted(p.name for p in default_report.out.iterdir())
    assert names == sorted([*PLOT_FILES.values(), "index.html", "summary.json"])


def test_empty_window_still_writes_every_plot(report_args):
    ran = run_cli([*report_args, "--until", "2000-01-01T00:00:00Z"])
    for name in PLOT_FILES.values():
        _open_png((ran.out / name).read_bytes())


def test_rerun_replaces_the_previous_report(report_args):
    first = run_cli(report_args)
    second = run_cli([*report_args, "--threshold", "0.5"])
    assert first.out == second.out
    assert second.summary()["confidence"]["below_threshold"] == 0
    assert "below 0.5" in (second.out / "index.html").read_text()
