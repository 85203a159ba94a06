"""`python -m etl.eda`: exploratory data analysis of an ETL export, as one HTML page.

The original notebook's milestone between ETL and training: look at the data before
fitting anything. Reads the folder `python -m etl` wrote (PNGs, `.lst` lists,
`manifest.json`) and writes one self-contained page (inline CSS, every image a base64
PNG, no external assets):

- a sample grid per class and split;
- counts per class and split, as a table and a bar chart;
- per-channel pixel histograms per class;
- image statistics per class and split from `etl.pixel_stats.PixelStatsBuilder` (the
  builder the manifest's `pixel_stats` comes from, so the train row equals it);
- near-duplicate pairs between train and test by perceptual hash, side by side.

Near-duplicates: Barz & Denzler, "Do We Train on Test Data? Purging CIFAR of
Near-Duplicates", Journal of Imaging 6(6):41, 2020 (doi:10.3390/jimaging6060041) found
that 10% of CIFAR-100's test images have a near-duplicate in its training set; their
"ciFAIR" test sets replace them, and test accuracy drops 9-14% relative. A test image
the model has effectively seen in training inflates the accuracy we report.

The hash is a 64-bit pHash (DCT of the 32x32 luma, the 8x8 lowest frequencies against
their median). Pairs at a Hamming distance of at most `HAMMING_THRESHOLD` are reported.
On the dev subset (800 train / 200 test), every pair at 6 or less is the same photo
(re-coloured, re-compressed or re-cropped by a pixel or two); from 8 on come distinct
photos of similar objects. A one-pixel shift moves about 10 bits, a mirror about 30,
noise of +-4 grey levels 0-2.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from deployment.progress import progress_bar
from etl.errors import EtlError
from etl.figures import CLASS_COLORS, PAGE_CSS, figure_png, png_data_uri
from etl.manifest import MANIFEST_NAME
from etl.pixel_stats import LUMA_WEIGHTS, PixelStats, PixelStatsBuilder

SPLITS = ("train", "test")
HASH_BITS = 64
# A test image with a train image at this Hamming distance or less is a near-duplicate
# (of 64 bits; see the module docstring for how it was chosen).
HAMMING_THRESHOLD = 6
SAMPLES = 16  # images per class and split in the sample grids
MAX_PAIRS_SHOWN = 60  # pairs drawn on the page (all are counted)
SEED = 0  # which images the sample grids show
CHUNK = 512  # images decoded, measured and hashed at a time
CHANNELS = (("R", "#e53e3e"), ("G", "#38a169"), ("B", "#3182ce"))


class EdaError(EtlError):
    """The folder is not a complete ETL export, or the page cannot be written."""


# --- reading the export -------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    root: Path
    classes: list[str]
    manifest: dict
    # split -> [(file name, class index)], in .lst order
    items: dict[str, list[tuple[str, int]]]

    def counts(self) -> dict[str, dict[str, int]]:
        counts = {s: dict.fromkeys(self.classes, 0) for s in SPLITS}
        for split, rows in self.items.items():
            for _, c in rows:
                counts[split][self.classes[c]] += 1
        return counts


def load_export(root: Path) -> Export:
    """The export at `root`, checked: manifest present, lists readable, every PNG there."""
    manifest_path = root / MANIFEST_NAME
    if not root.is_dir():
        raise EdaError(
            f"{root} is not a folder: run `make etl` first "
            "(or pass --data DIR; make eda DATA_DIR=DIR)"
        )
    if not manifest_path.is_file():
        raise EdaError(
            f"no {MANIFEST_NAME} in {root}: the ETL has not finished there; "
            "run `make etl` first (or pass --data DIR; make eda DATA_DIR=DIR)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        classes = list(manifest["classes"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise EdaError(f"{manifest_path} is not an ETL manifest ({exc}): run `make etl`") from None
    items = {split: _read_list(root, split, len(classes)) for split in SPLITS}
    export = Export(root, classes, manifest, items)
    expected = {s: dict(manifest.get("counts", {}).get(s, {}).get("per_class", {})) for s in SPLITS}
    if export.counts() != expected:
        raise EdaError(
            f"the lists in {root} do not match {MANIFEST_NAME}'s counts "
            f"({export.counts()} against {expected}): run `make etl` again"
        )
    return export


def _read_list(root: Path, split: str, n_classes: int) -> list[tuple[str, int]]:
    path = root / f"{split}.lst"
    if not path.is_file():
        raise EdaError(f"{path} is missing: run `make etl` again")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].isdigit() or int(fields[1]) >= n_classes:
            raise EdaError(f"{path}:{number} is not an ETL list line: {line!r}")
        if not (root / split / fields[2]).is_file():
            raise EdaError(f"{root / split / fields[2]} (listed in {path.name}) is missing")
        rows.append((fields[2], int(fields[1])))
    if not rows:
        raise EdaError(f"{path} lists no images")
    return rows


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- the perceptual hash ------------------------------------------------------------


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II: `D @ x` transforms a column, `D @ X @ D.T` an image."""
    k = np.arange(n)
    d = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    d[0] /= np.sqrt(2)
    return d


def phash(images: np.ndarray) -> np.ndarray:
    """64-bit pHash of uint8 (N, 32, 32, 3) RGB images, as uint64 (N,).

    The luma's 2-D DCT; of its 8x8 lowest frequencies, each bit says whether a
    coefficient exceeds the median of the 63 beside the DC term.
    """
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"expected (N, H, W, 3) images, got {images.shape}")
    d = _dct_matrix(images.shape[1]), _dct_matrix(images.shape[2])
    luma = images.astype(np.float64) @ LUMA_WEIGHTS
    low = np.einsum("ij,njk,lk->nil", d[0][:8], luma, d[1][:8]).reshape(len(images), 64)
    bits = low > np.median(low[:, 1:], axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise distance between uint64 hashes (broadcasting)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.uint8)


@dataclass(frozen=True)
class Pair:
    test: int  # index in the test list
    train: int  # index in the train list
    distance: int


def near_duplicates(
    train: np.ndarray, test: np.ndarray, threshold: int
) -> tuple[list[Pair], np.ndarray]:
    """Every (test, train) pair within `threshold` bits, closest first, and each test
    image's distance to its nearest train image."""
    pairs: list[Pair] = []
    nearest = np.full(len(test), HASH_BITS, dtype=np.uint8)
    step = max(1, (1 << 24) // max(1, len(train)))  # a bounded (step, len(train)) matrix
    for start in range(0, len(test), step):
        dist = hamming(test[start : start + step, None], train[None, :])
        nearest[start : start + len(dist)] = dist.min(axis=1)
        for i, j in zip(*np.nonzero(dist <= threshold), strict=True):
            pairs.append(Pair(start + int(i), int(j), int(dist[i, j])))
    pairs.sort(key=lambda p: (p.distance, p.test, p.train))
    return pairs, nearest


# --- one pass over the images -------------------------------------------------------


@dataclass
class SplitScan:
    hashes: np.ndarray  # uint64, one per image in list order
    stats: dict[str, PixelStats]  # class name (and "all") -> statistics
    histograms: np.ndarray  # (classes, 3, 256) pixel counts
    samples: dict[str, np.ndarray] = field(default_factory=dict)  # class -> (k, 32, 32, 3)


def scan_split(export: Export, split: str, samples: int, progress: bool) -> SplitScan:
    """Decode every image of `split` once: hashes, statistics, histograms, samples."""
    rows = export.items[split]
    labels = np.array([c for _, c in rows])
    rng = np.random.default_rng(SEED)
    chosen = {
        c: set(np.sort(rng.permutation(np.flatnonzero(labels == c))[:samples]).tolist())
        for c in range(len(export.classes))
    }
    builders = [PixelStatsBuilder() for _ in export.classes]
    overall = PixelStatsBuilder()
    histograms = np.zeros((len(export.classes), 3, 256), dtype=np.int64)
    hashes = np.zeros(len(rows), dtype=np.uint64)
    picked: dict[int, list[np.ndarray]] = {c: [] for c in chosen}
    bar = progress_bar(
        total=len(rows), desc=f"read and hash {split}", unit="img", disable=not progress
    )
    try:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            images = np.stack([read_png(export.root / split / name) for name, _ in chunk])
            if images.shape[1:] != (32, 32, 3):
                raise EdaError(f"{split} holds images of {images.shape[1:]}, not 32x32 RGB")
            hashes[start : start + len(chunk)] = phash(images)
            overall.add_images(images)
            for c in range(len(export.classes)):
                mask = labels[start : start + len(chunk)] == c
                if not mask.any():
                    continue
                of_class = images[mask]
                builders[c].add_images(of_class)
                for ch in range(3):
                    histograms[c, ch] += np.bincount(of_class[..., ch].ravel(), minlength=256)
            for offset, (_, c) in enumerate(chunk):
                if start + offset in chosen[c]:
                    picked[c].append(images[offset])
            bar.update(len(chunk))
    finally:
        bar.close()
    stats = {name: builders[c].build(split) for c, name in enumerate(export.classes) if picked[c]}
    stats["all"] = overall.build(split)
    return SplitScan(
        hashes,
        stats,
        histograms,
        {export.classes[c]: np.stack(p) for c, p in picked.items() if p},
    )


# --- figures ------------------------------------------------------------------------


def image_png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(out, format="PNG")
    return out.getvalue()


def grid_png(images: np.ndarray, columns: int = 8, gap: int = 2) -> bytes:
    """Images tiled left to right on white, at their own 32x32 (the page scales it up)."""
    rows = -(-len(images) // columns)
    h, w = images.shape[1:3]
    sheet = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return image_png(sheet)


def counts_chart(counts: dict[str, dict[str, int]], classes: list[str]) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
    x = np.arange(len(SPLITS))
    width = 0.8 / len(classes)
    for c, name in enumerate(classes):
        values = [counts[s][name] for s in SPLITS]
        bars = ax.bar(
            x + (c - (len(classes) - 1) / 2) * width,
            values,
            width,
            label=name,
            color=CLASS_COLORS[c % len(CLASS_COLORS)],
        )
        ax.bar_label(bars, fmt="{:,.0f}", fontsize=8, padding=2)
    ax.set_xticks(x, SPLITS)
    ax.set_ylabel("images")
    ax.set_title("Images per class and split", loc="left")
    ax.legend(frameon=False, ncols=min(len(classes), 6))
    ax.margins(y=0.15)
    return figure_png(fig)


def histogram_chart(scans: dict[str, SplitScan], classes: list[str]) -> bytes:
    columns = min(len(classes), 3)
    rows = -(-len(classes) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.6 * columns, 2.6 * rows),
        layout="constrained",
        sharey=True,
        squeeze=False,
    )
    levels = np.arange(256) / 255
    for c, name in enumerate(classes):
        ax = axes.flat[c]
        for split, style in (("train", "-"), ("test", ":")):
            counts = scans[split].histograms[c]
            total = counts[0].sum()
            if not total:
                continue
            for ch, (label, colour) in enumerate(CHANNELS):
                ax.plot(
                    levels,
                    counts[ch] / total,
                    style,
                    color=colour,
                    lw=1.2 if split == "train" else 1.0,
                    label=f"{label} {split}",
                )
        ax.set_title(name, loc="left")
        ax.set_xlabel("pixel value / 255")
    for ax in axes.flat[len(classes) :]:
        ax.set_axis_off()
    axes.flat[0].set_ylabel("share of pixels")
    axes.flat[0].legend(frameon=False, fontsize=7, ncols=2)
    return figure_png(fig)


def distance_chart(nearest: np.ndarray, threshold: int) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 2.6), layout="constrained")
    counts = np.bincount(nearest, minlength=HASH_BITS + 1)
    colours = ["#c53030" if d <= threshold else "#a0aec0" for d in range(HASH_BITS + 1)]
    ax.bar(np.arange(HASH_BITS + 1), counts, color=colours, width=0.9)
    ax.axvline(threshold + 0.5, color="#c53030", lw=1, ls="--")
    ax.set_xlim(-1, max(int(nearest.max()) + 2, threshold + 4))
    ax.set_xlabel("Hamming distance to the nearest train image (bits of 64)")
    ax.set_ylabel("test images")
    ax.set_title("Each test image's nearest train image by pHash", loc="left")
    return figure_png(fig)


# --- the page -----------------------------------------------------------------------


CSS = (
    PAGE_CSS
    + """
.samples{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.samples img{width:100%;image-rendering:pixelated}
.pairs{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}
.pairs div{text-align:center;font-size:12px}
.pairs img{width:176px;height:auto;image-rendering:pixelated;border-radius:4px;
border:1px solid var(--line)}
.pairs .d{font-weight:700;color:var(--bad)}
@media (max-width:800px){.samples{grid-template-columns:1fr}}
"""
)

CITATION = (
    'B. Barz and J. Denzler, "Do We Train on Test Data? Purging CIFAR of Near-Duplicates", '
    "Journal of Imaging 6(6):41, 2020, doi:10.3390/jimaging6060041 "
    "(ciFAIR: https://cvjena.github.io/cifair/)"
)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="{png_data_uri(png)}">'


@dataclass(frozen=True)
class Eda:
    export: Export
    scans: dict[str, SplitScan]
    pairs: list[Pair]
    nearest: np.ndarray
    threshold: int


def analyse(data: Path, *, threshold: int, samples: int, progress: bool) -> Eda:
    export = load_export(data)
    scans = {s: scan_split(export, s, samples, progress) for s in SPLITS}
    pairs, nearest = near_duplicates(scans["train"].hashes, scans["test"].hashes, threshold)
    return Eda(export, scans, pairs, nearest, threshold)


def _counts_table(eda: Eda) -> str:
    counts = eda.export.counts()
    totals = {s: sum(counts[s].values()) for s in SPLITS}
    head = "".join(f"<th class=n>{s}</th>" for s in SPLITS)
    rows = ""
    for name in eda.export.classes:
        cells = "".join(f'<td class=n data-split="{s}">{counts[s][name]:,}</td>' for s in SPLITS)
        n = sum(counts[s][name] for s in SPLITS)
        share = f"{counts['test'][name] / n:.1%}" if n else "n/a"
        rows += f'<tr data-class="{escape(name)}"><td>{escape(name)}</td>{cells}'
        rows += f"<td class=n>{n:,}</td><td class=n>{share}</td></tr>"
    cells = "".join(f'<td class=n data-split="{s}">{totals[s]:,}</td>' for s in SPLITS)
    rows += f'<tr data-class="total"><th>total</th>{cells}'
    rows += f"<td class=n>{sum(totals.values()):,}</td><td></td></tr>"
    return (
        f'<table id="counts"><tr><th>class</th>{head}<th class=n>all</th>'
        f"<th class=n>test share</th></tr>{rows}</table>"
    )


def _stats_table(eda: Eda) -> str:
    head = (
        "<tr><th>class</th><th>split</th><th class=n>images</th><th class=n>mean brightness</th>"
        "<th class=n>brightness std</th><th class=n>R mean ± std</th>"
        "<th class=n>G mean ± std</th><th class=n>B mean ± std</th></tr>"
    )
    rows = ""
    for name in [*eda.export.classes, "all"]:
        for split in SPLITS:
            st = eda.scans[split].stats.get(name)
            if st is None:
                continue
            channels = "".join(
                f"<td class=n>{m:.4f} ± {s:.4f}</td>"
                for m, s in zip(st.channel_mean, st.channel_std, strict=True)
            )
            rows += (
                f'<tr data-class="{escape(name)}" data-split="{split}"><td>{escape(name)}</td>'
                f"<td>{split}</td><td class=n>{st.images:,}</td>"
                f"<td class=n>{st.brightness_mean:.4f}</td><td class=n>{st.brightness_std:.4f}</td>"
                f"{channels}</tr>"
            )
    reference = eda.export.manifest.get("pixel_stats")
    check = (
        "The train/all row equals the manifest's <code>pixel_stats</code> (same builder)."
        if reference == eda.scans["train"].stats["all"].to_json()
        else "<b>The train/all row differs from the manifest's <code>pixel_stats</code>: "
        "the PNGs changed after the ETL wrote them; run <code>make etl</code> again.</b>"
    )
    return (
        f'<table id="stats">{head}{rows}</table><p class="note">Pixel values / 255; std over '
        "every pixel (population). Brightness is the BT.601 luma. Statistics from "
        f"<code>etl.pixel_stats.PixelStatsBuilder</code>. {check}</p>"
    )


def _samples(eda: Eda) -> str:
    blocks = ""
    for name in eda.export.classes:
        cells = ""
        for split in SPLITS:
            images = eda.scans[split].samples.get(name)
            body = (
                _img(grid_png(images), f"{name} {split} samples")
                if images is not None
                else "<p>none</p>"
            )
            cells += f"<figure>{body}<figcaption>{escape(name)}, {split}</figcaption></figure>"
        blocks += f'<h3>{escape(name)}</h3><div class="samples">{cells}</div>'
    return blocks


def _pairs(eda: Eda) -> str:
    if not eda.pairs:
        return "<p>No near-duplicate pairs at this threshold.</p>"
    root, items, classes = eda.export.root, eda.export.items, eda.export.classes
    cells = ""
    for p in eda.pairs[:MAX_PAIRS_SHOWN]:
        test_name, test_class = items["test"][p.test]
        train_name, train_class = items["train"][p.train]
        gap = np.full((32, 3, 3), 255, np.uint8)
        both = np.concatenate(
            [read_png(root / "test" / test_name), gap, read_png(root / "train" / train_name)],
            axis=1,
        )
        label = escape(classes[test_class])
        if train_class != test_class:
            label += f" / {escape(classes[train_class])} (labels differ)"
        cells += (
            f'<div class="pair">{_img(image_png(both), f"test {test_name}, train {train_name}")}'
            f"<br><span class=d>{p.distance} bits</span> {label}<br>"
            f"<code>test/{escape(test_name)}</code><br><code>train/{escape(train_name)}</code></div>"
        )
    more = (
        f"<p class=note>The {MAX_PAIRS_SHOWN} closest of {len(eda.pairs):,} pairs are shown.</p>"
        if len(eda.pairs) > MAX_PAIRS_SHOWN
        else ""
    )
    return f'<div class="pairs">{cells}</div>{more}'


def render_page(eda: Eda, context: dict[str, str]) -> str:
    counts = eda.export.counts()
    totals = {s: sum(counts[s].values()) for s in SPLITS}
    test_images_with_pair = len({p.test for p in eda.pairs})
    source = eda.export.manifest.get("source", {})
    cards = [
        ("classes", f"{len(eda.export.classes)}", False),
        ("train images", f"{totals['train']:,}", False),
        ("test images", f"{totals['test']:,}", False),
        ("near-duplicate pairs", f"{len(eda.pairs):,}", bool(eda.pairs)),
        (
            "test images with one",
            f"{test_images_with_pair / totals['test']:.1%}",
            bool(eda.pairs),
        ),
    ]
    cards_html = "".join(
        f'<div class="card{" bad" if bad else ""}" id="card-{k.replace(" ", "-")}">'
        f'<div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
        for k, v, bad in cards
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>EDA: {escape(", ".join(eda.export.classes))}</title><style>{CSS}</style></head>
<body><main>
<header><h1>Exploratory data analysis: {escape(", ".join(eda.export.classes))}</h1>
<p>ETL export at <code>{escape(str(eda.export.root))}</code>, from
<code>{escape(str(source.get("uri", "?")))}</code>
(sha256 <code>{escape(str(source.get("sha256", "?"))[:12])}</code>).</p>
<p>Generated {escape(context["generated"])}.</p></header>
<div class="cards">{cards_html}</div>
<section><h2>Images per class and split</h2>{_counts_table(eda)}
<figure>{_img(counts_chart(counts, eda.export.classes), "counts per class and split")}</figure>
</section>
<section><h2>Samples</h2><p class="note">Up to {SAMPLES} images per class and split, drawn
at random (seed {SEED}), shown at 32x32 pixels scaled up.</p>{_samples(eda)}</section>
<section><h2>Pixel histograms per class</h2><figure>
{_img(histogram_chart(eda.scans, eda.export.classes), "pixel histograms per class")}
<figcaption>Share of pixels at each value, per channel; solid: train, dotted: test.
</figcaption></figure></section>
<section><h2>Image statistics</h2>{_stats_table(eda)}</section>
<section id="near-duplicates"><h2>Near-duplicates between train and test</h2>
<p><b id="pair-count">{len(eda.pairs):,}</b> pairs of a test image and a train image at a
perceptual-hash distance of at most <b>{eda.threshold}</b> bits of {HASH_BITS}
({test_images_with_pair:,} of {totals["test"]:,} test images). A test image that is a near
copy of a training image measures memory, not generalisation: it inflates test accuracy.
CIFAR-100 is known to hold such pairs: 10% of its test images have a near-duplicate in
its training set, and accuracy drops 9-14% (relative) on test sets without them
({escape(CITATION)}).</p>
<p class="note">Hash: 64-bit pHash (DCT of the 32x32 luma; the 8x8 lowest frequencies
against their median). Threshold {eda.threshold}: on the dev subset every pair at 6 or
less is the same photo, from 8 on they are different photos of similar objects; a
one-pixel shift moves about 10 bits. Each pair: test on the left, train on the right.
</p>
<figure>{_img(distance_chart(eda.nearest, eda.threshold), "nearest-train distances")}</figure>
{_pairs(eda)}</section>
<p class="note">Made by <code>{escape(context["command"])}</code></p>
</main></body></html>
"""


def write_page(eda: Eda, out: Path, command: str) -> int:
    html = render_page(
        eda, {"generated": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", "command": command}
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise EdaError(f"cannot write {out}: {exc}") from exc
    return len(html.encode())


# --- the command line ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl.eda",
        description="One self-contained HTML page about an ETL export: samples, counts, "
        "pixel histograms and statistics, train/test near-duplicates.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("data/cifar"),
        help="the ETL's output folder (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports/eda.html"), help="page (default: %(default)s)"
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=HAMMING_THRESHOLD,
        help="near-duplicate: at most this many differing pHash bits of 64 (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=SAMPLES,
        help="images per class and split in the grids (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.threshold < HASH_BITS:
        parser.error(f"--threshold must be in 0..{HASH_BITS - 1}, got {args.threshold}")
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    try:
        eda = analyse(
            args.data, threshold=args.threshold, samples=args.samples, progress=not args.quiet
        )
        size = write_page(eda, args.out, "python -m etl.eda " + shlex.join(argv))
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; no page written", file=sys.stderr)
        return 130
    counts = eda.export.counts()
    for split in SPLITS:
        per_class = ", ".join(f"{name} {n:,}" for name, n in counts[split].items())
        print(f"{split}: {sum(counts[split].values()):,} images ({per_class}) in {args.data}")
    print(
        f"near-duplicates: {len(eda.pairs):,} train/test pairs within {eda.threshold} bits "
        f"({len({p.test for p in eda.pairs}):,} test images)"
    )
    print(f"wrote {args.out} ({size / 1024:,.0f} KiB, one self-contained HTML page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
