"""The page renders in a real headless browser (Debian's chromium) with its plots."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 2400
# A rendered report is dense with plot ink and colour; the same page without its plots
# (or a page that did not render) falls far below both floors.
MIN_INK_SHARE = 0.06
MIN_COLOUR_SHARE = 0.03

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)",
    ),
]


def screenshot(page: Path, tmp_path: Path) -> np.ndarray:
    shot = tmp_path / "screenshot.png"
    done = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert shot.is_file(), f"chromium wrote no screenshot: {done.stderr[-2000:]}"
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def ink_and_colour(pixels: np.ndarray) -> tuple[float, float]:
    ink = (pixels.min(axis=2) < 200).mean()
    colour = ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).mean()
    return float(ink), float(colour)


def test_report_page_renders_with_its_plots(default_report, tmp_path):
    pixels = screenshot(default_report.out / "index.html", tmp_path)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    ink, colour = ink_and_colour(pixels)
    assert ink > MIN_INK_SHARE, f"only {ink:.2%} of the page has ink"
    assert colour > MIN_COLOUR_SHARE, f"only {colour:.2%} of the page has colour"


def test_page_without_its_plots_fails_the_render_check(default_report, tmp_path):
    html = (default_report.out / "index.html").read_text()
    stripped = tmp_path / "stripped.html"
    stripped.write_text(re.sub(r"<img [^>]*>", "", html))
    ink, colour = ink_and_colour(screenshot(stripped, tmp_path))
    assert ink < MIN_INK_SHARE or colour < MIN_COLOUR_SHARE
