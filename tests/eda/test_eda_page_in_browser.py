"""The page renders in a real headless browser (Debian's chromium): every image decodes,
nothing is fetched, nothing is logged to the console.

Without chromium these tests skip with the reason locally (`make browser` installs it)
and fail under CI=true, where the check must run.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.eda.eda_helpers import Page

WIDTH, HEIGHT = 1280, 3200
# The page is mostly sample grids and charts: dense with ink and colour. The same page
# without its images falls far below both floors.
MIN_INK_SHARE = 0.06
MIN_COLOUR_SHARE = 0.02

pytestmark = pytest.mark.slow

# Runs first in <head>: records errors (resource failures included, in the capture
# phase) and console.error/warn, then on load writes what it saw to <html data-probe>.
PROBE = """<script>
window.__problems = [];
addEventListener("error", e => __problems.push(e.target && e.target.tagName
  ? "failed to load " + e.target.tagName + " " + String(e.target.src).slice(0, 40)
  : "error " + e.message), true);
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => { __problems.push(level + " " + args.join(" "));
                                  original.apply(console, args); };
}
addEventListener("load", () => {
  const images = [...document.images];
  document.documentElement.dataset.probe = JSON.stringify({
    images: images.length,
    rendered: images.filter(i => i.complete && i.naturalWidth > 0).length,
    fetched: performance.getEntriesByType("resource").map(r => r.name),
    problems: __problems,
  });
});
</script>"""


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "chromium is not installed (`make browser`, or apt-get install -y chromium)"
        if ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return found


def run_chromium(chromium: str, page: Path, tmp_path: Path, *action: str) -> tuple[str, str]:
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}", *action, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return done.stdout, done.stderr


def probe(chromium: str, page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """What the probe saw on `page`, and the console lines chromium logged."""
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1))
    dom, log = run_chromium(chromium, probed, tmp_path, "--dump-dom")
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the page did not finish loading: {log[-2000:]}"
    return json.loads(html.unescape(found.group(1))), re.findall(r"CONSOLE[^\]]*\] (.*)", log)


def test_every_image_renders_with_no_console_errors(chromium, dev_page: Page, tmp_path):
    seen, console = probe(chromium, dev_page.path, tmp_path)

    assert seen["images"] >= 8
    assert seen["rendered"] == seen["images"]
    assert seen["fetched"] == []  # self-contained: no external assets
    assert seen["problems"] == []
    assert console == []


def test_a_broken_image_fails_the_render_check(chromium, dev_page: Page, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        dev_page.html.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1)
    )

    seen, _ = probe(chromium, broken, tmp_path)

    assert seen["rendered"] == seen["images"] - 1
    assert any(p.startswith("failed to load IMG") for p in seen["problems"])


def screenshot(chromium: str, page: Path, tmp_path: Path) -> np.ndarray:
    shot = tmp_path / "screenshot.png"
    _, log = run_chromium(
        chromium, page, tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}"
    )
    assert shot.is_file(), f"chromium wrote no screenshot: {log[-2000:]}"
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def ink_and_colour(pixels: np.ndarray) -> tuple[float, float]:
    ink = (pixels.min(axis=2) < 200).mean()
    colour = ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).mean()
    return float(ink), float(colour)


def test_screenshot_shows_the_samples_and_charts(chromium, dev_page: Page, tmp_path):
    pixels = screenshot(chromium, dev_page.path, tmp_path)

    assert pixels.shape == (HEIGHT, WIDTH, 3)
    ink, colour = ink_and_colour(pixels)
    assert ink > MIN_INK_SHARE, f"only {ink:.2%} of the page has ink"
    assert colour > MIN_COLOUR_SHARE, f"only {colour:.2%} of the page has colour"


def test_page_without_its_images_fails_the_screenshot_check(chromium, dev_page: Page, tmp_path):
    stripped = tmp_path / "stripped.html"
    stripped.write_text(re.sub(r"<img [^>]*>", "", dev_page.html))

    ink, colour = ink_and_colour(screenshot(chromium, stripped, tmp_path))

    assert ink < MIN_INK_SHARE or colour < MIN_COLOUR_SHARE
