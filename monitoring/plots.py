"""The report's figures as PNG bytes (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from etl.figures import CLASS_COLORS, figure_png
from monitoring.aggregate import Aggregator
from monitoring.reference import DriftReference
from monitoring.summary import (
    CHANNELS,
    Limits,
    captured_means,
    class_name,
    drift_shift,
    histogram_quantile,
)

ABOVE_COLOR = "#2b6cb0"
LOW_COLOR = "#c53030"
THRESHOLD_COLOR = "#2f855a"
CHANNEL_COLORS = {"red": "#e53e3e", "green": "#38a169", "blue": "#3182ce", "brightness": "#4a5568"}

PLOT_FILES = {
    "confidence_over_time": "confidence_over_time.png",
    "confidence_histogram": "confidence_histogram.png",
    "class_mix": "class_mix.png",
    "drift": "drift.png",
    "lowest_confidence": "lowest_confidence.png",
}


def _empty(title: str, message: str) -> bytes:
    fig, ax = plt.subplots(figsize=(10, 1.4), layout="constrained")
    ax.set_title(title, loc="left")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#718096")
    ax.set_axis_off()
    return figure_png(fig)


def _time_axis(ax, agg: Aggregator) -> None:
    """The x axis spans the data (first to last bucket, half a bucket either side), never
    matplotlib's default of years around a single point."""
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    buckets = agg.sorted_buckets()
    if buckets:
        width = timedelta(seconds=agg.bucket_seconds)
        ax.set_xlim(buckets[0][0] - width / 2, buckets[-1][0] + width * 1.5)


FEW_REQUESTS = 100


def _few(agg: Aggregator) -> str:
    """For few requests, the time span and bucket size the data chose, said in the title."""
    if agg.count >= FEW_REQUESTS or agg.first is None or agg.last is None:
        return ""
    span = (agg.last - agg.first).total_seconds()
    return f" over {_duration(round(span))}, in {_duration(agg.bucket_seconds)} buckets"


def _bucket_width_days(agg: Aggregator) -> float:
    return agg.bucket_seconds / 86400 * 0.9


def _centers(agg: Aggregator) -> list[datetime]:
    half = timedelta(seconds=agg.bucket_seconds / 2)
    return [start + half for start, _ in agg.sorted_buckets()]


def confidence_over_time(agg: Aggregator, limits: Limits) -> bytes:
    title = "Confidence over time"
    if not agg.count:
        return _empty(title, "No requests in this window")
    fig, (ax, counts) = plt.subplots(
        2,
        1,
        figsize=(10, 5.6),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [3, 1.2]},
    )
    points = np.array(agg.reservoir)
    times = [datetime.fromtimestamp(t, UTC) for t in points[:, 0]]
    low = points[:, 1] < limits.threshold
    alpha = 0.7 if len(points) < 300 else 0.25
    ax.scatter(
        [t for t, lo in zip(times, low, strict=True) if not lo],
        points[~low, 1],
        s=10,
        color=ABOVE_COLOR,
        alpha=alpha,
        lw=0,
        label="request",
    )
    ax.scatter(
        [t for t, lo in zip(times, low, strict=True) if lo],
        points[low, 1],
        s=14,
        color=LOW_COLOR,
        alpha=min(1.0, alpha * 1.5),
        lw=0,
        label="below threshold",
    )
    buckets = [b for _, b in agg.sorted_buckets()]
    centers = _centers(agg)
    if len(buckets) > 1:
        p10, p50, p90 = (
            [histogram_quantile(b.histogram, q) for b in buckets] for q in (0.1, 0.5, 0.9)
        )
        ax.fill_between(centers, p10, p90, color="#a0aec0", alpha=0.3, step="mid", label="10-90%")
        ax.plot(centers, p50, color="#1a202c", lw=1.5, drawstyle="steps-mid", label="median")
    ax.axhline(
        limits.threshold,
        color=THRESHOLD_COLOR,
        ls="--",
        lw=1.5,
        label=f"threshold {limits.threshold:g}",
    )
    ax.set_ylim(min(0.45, float(points[:, 1].min()) - 0.02), 1.01)
    ax.set_ylabel("confidence (max probability)")
    sampled = f" (a sample of {len(points):,} shown)" if len(points) < agg.count else ""
    ax.set_title(f"{title}: {agg.count:,} requests{sampled}{_few(agg)}", loc="left", pad=24)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, ncols=5, frameon=False)

    width = _bucket_width_days(agg)
    passed = [b.count - b.low for b in buckets]
    counts.bar(centers, passed, width=width, color=ABOVE_COLOR, label="at or above threshold")
    counts.bar(centers, [b.low for b in buckets], width=width, bottom=passed, color=LOW_COLOR)
    counts.set_ylabel(f"requests / {_duration(agg.bucket_seconds)}")
    _time_axis(counts, agg)
    return figure_png(fig)


def confidence_histogram(agg: Aggregator, limits: Limits) -> bytes:
    title = "Confidence distribution"
    if not agg.count:
        return _empty(title, "No requests in this window")
    fig, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    bins = len(agg.histogram)
    edges = np.arange(bins) / bins
    colors = [LOW_COLOR if e + 1 / bins <= limits.threshold else ABOVE_COLOR for e in edges]
    ax.bar(edges, agg.histogram, width=1 / bins, align="edge", color=colors, lw=0)
    ax.axvline(
        limits.threshold,
        color=THRESHOLD_COLOR,
        ls="--",
        lw=1.5,
        label=f"threshold {limits.threshold:g}",
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    share = agg.low / agg.count
    ax.set_title(
        f"{title}: {share:.1%} below the {limits.threshold:g} threshold "
        f"({agg.low:,} of {agg.count:,})",
        loc="left",
    )
    first = int(np.flatnonzero(agg.histogram)[0])
    ax.set_xlim(min(0.45, first / bins), 1.0)
    ax.set_xlabel("confidence")
    ax.set_ylabel("requests")
    return figure_png(fig)


def class_mix(agg: Aggregator, class_names: tuple[str, ...]) -> bytes:
    title = "Predicted class mix over time"
    if not agg.count:
        return _empty(title, "No requests in this window")
    fig, (counts, shares) = plt.subplots(
        2,
        1,
        figsize=(10, 4.8),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [1.4, 1]},
    )
    buckets = [b for _, b in agg.sorted_buckets()]
    centers = _centers(agg)
    width = _bucket_width_days(agg)
    bottom = np.zeros(len(buckets))
    totals = np.array([b.count for b in buckets], dtype=float)
    share_bottom = np.zeros(len(buckets))
    for n, index in enumerate(sorted(agg.classes)):
        values = np.array([b.classes.get(index, 0) for b in buckets], dtype=float)
        color = CLASS_COLORS[n % len(CLASS_COLORS)]
        label = f"{class_name(index, class_names)} ({agg.classes[index] / agg.count:.0%})"
        counts.bar(centers, values, width=width, bottom=bottom, color=color, label=label)
        shares.bar(centers, values / totals, width=width, bottom=share_bottom, color=color)
        bottom += values
        share_bottom += values / totals
    counts.set_title(f"{title}{_few(agg)}", loc="left", pad=24)
    counts.set_ylabel(f"requests / {_duration(agg.bucket_seconds)}")
    counts.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, frameon=False, ncols=6)
    shares.set_ylabel("share")
    shares.set_ylim(0, 1)
    _time_axis(shares, agg)
    return figure_png(fig)


def drift(agg: Aggregator, reference: DriftReference | None, limits: Limits) -> bytes:
    title = "Input drift against the training data"
    if not agg.measure_pixels:
        return _empty(title, "Drift not measured (--no-drift)")
    if not agg.images:
        return _empty(title, "No decodable captured images")
    means = captured_means(agg.channel_sum, agg.images)
    if reference is None:
        fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
        ax.bar(CHANNELS, means, color=[CHANNEL_COLORS[c] for c in CHANNELS])
        ax.set_ylim(0, 1)
        ax.set_ylabel("mean (0-1)")
        ax.set_title(f"{title}: no training reference (pass --manifest)", loc="left")
        return figure_png(fig)
    fig, (over_time, bars) = plt.subplots(
        1, 2, figsize=(10, 3.8), layout="constrained", gridspec_kw={"width_ratios": [2.2, 1]}
    )
    groups = _image_groups(agg, limits.min_drift_images)
    shifts = np.array([drift_shift(captured_means(total, n), reference) for _, total, n in groups])
    for i, channel in enumerate(CHANNELS):
        over_time.plot(
            [t for t, _, _ in groups],
            shifts[:, i],
            marker="o" if len(groups) < 40 else None,
            ms=4,
            lw=1.6,
            color=CHANNEL_COLORS[channel],
            label=channel,
        )
    over_time.axhspan(-limits.drift_limit, limits.drift_limit, color=THRESHOLD_COLOR, alpha=0.08)
    for sign in (-1, 1):
        over_time.axhline(sign * limits.drift_limit, color=THRESHOLD_COLOR, ls="--", lw=1)
    bound = max(limits.drift_limit * 2, float(np.abs(shifts).max()) * 1.15)
    over_time.set_ylim(-bound, bound)
    over_time.set_ylabel("mean shift (training std)")
    sizes = [n for _, _, n in groups]
    if min(sizes) >= limits.min_drift_images:
        per_point = f"each point: {limits.min_drift_images}+ images"
    else:  # too few to judge: say how many each point really has
        per_point = (
            f"{len(groups)} point{'s' if len(groups) > 1 else ''} of "
            f"{', '.join(map(str, sizes))} images; {limits.min_drift_images} needed to judge"
        )
    over_time.set_title(f"{title} ({per_point})", loc="left")
    over_time.legend(loc="upper left", fontsize=8, ncols=4, frameon=False)
    _time_axis(over_time, agg)

    ref_mean = np.append(reference.channel_mean, reference.brightness_mean)
    ref_std = np.append(reference.channel_std, reference.brightness_std)
    x = np.arange(len(CHANNELS))
    bars.bar(x - 0.2, ref_mean, 0.4, yerr=ref_std, color="#cbd5e0", capsize=3, label="training")
    bars.bar(x + 0.2, means, 0.4, color=[CHANNEL_COLORS[c] for c in CHANNELS], label="captured")
    bars.set_xticks(x, ["R", "G", "B", "luma"])
    bars.set_ylim(0, 1)
    bars.set_title(f"Means over {agg.images:,} images", loc="left")
    bars.legend(loc="upper right", fontsize=8, frameon=False)
    return figure_png(fig)


def _image_groups(agg: Aggregator, per_group: int) -> list[tuple[datetime, np.ndarray, int]]:
    """Consecutive buckets merged until each group has `per_group` images, the sample size
    the drift flag needs, so every point can be read against the limit."""
    groups: list[list] = []  # [first start, last end, channel sum, images]
    width = timedelta(seconds=agg.bucket_seconds)
    for start, bucket in agg.sorted_buckets():
        if not bucket.images:
            continue
        if not groups or groups[-1][3] >= per_group:
            groups.append([start, start + width, np.zeros(3), 0])
        group = groups[-1]
        group[1] = start + width
        group[2] = group[2] + bucket.channel_sum
        group[3] += bucket.images
    if len(groups) > 1 and groups[-1][3] < per_group:
        last = groups.pop()
        groups[-1][1:] = [last[1], groups[-1][2] + last[2], groups[-1][3] + last[3]]
    return [(a + (b - a) / 2, total, n) for a, b, total, n in groups]


def lowest_confidence(agg: Aggregator, class_names: tuple[str, ...]) -> bytes:
    """The least confident inputs side by side, upscaled without smoothing, with captions.

    Composed with Pillow, not matplotlib: a grid of images needs no axes and this is
    many times faster.
    """
    entries = agg.lowest()
    if not entries:
        return _empty("Lowest-confidence inputs", "No requests in this window")
    tile, pad, caption, per_row = 128, 16, 40, 6
    rows = (len(entries) + per_row - 1) // per_row
    header = 34
    width = per_row * (tile + pad) + pad
    height = header + rows * (tile + caption + pad) + pad
    strip = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(strip)
    bold, small = ImageFont.load_default(size=16), ImageFont.load_default(size=12)
    draw.text(
        (pad, 8),
        "Lowest-confidence inputs (confidence, predicted class, time UTC)",
        fill="#1a202c",
        font=bold,
    )
    for n, entry in enumerate(entries):
        x = pad + (n % per_row) * (tile + pad)
        y = header + (n // per_row) * (tile + caption + pad)
        if entry.thumbnail:
            image = Image.open(io.BytesIO(entry.thumbnail)).convert("RGB")
            scale = tile / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            strip.paste(image.resize(size, Image.Resampling.NEAREST), (x, y))
        else:
            draw.rectangle((x, y, x + tile, y + tile), outline="#cbd5e0")
            draw.text((x + 36, y + 56), "no image", fill="#718096", font=small)
        color = LOW_COLOR if entry.confidence < agg.threshold else "#1a202c"
        name = class_name(entry.predicted_index, class_names)
        draw.text((x, y + tile + 4), f"{entry.confidence:.3f} {name}", fill=color, font=small)
        draw.text(
            (x, y + tile + 20), f"{entry.inference_time:%m-%d %H:%M:%S}", fill="#4a5568", font=small
        )
    out = io.BytesIO()
    strip.save(out, format="PNG")
    return out.getvalue()


def render_all(
    agg: Aggregator,
    reference: DriftReference | None,
    limits: Limits,
    class_names: tuple[str, ...],
) -> dict[str, bytes]:
    """Every figure, by name (see PLOT_FILES)."""
    return {
        "confidence_over_time": confidence_over_time(agg, limits),
        "confidence_histogram": confidence_histogram(agg, limits),
        "class_mix": class_mix(agg, class_names),
        "drift": drift(agg, reference, limits),
        "lowest_confidence": lowest_confidence(agg, class_names),
    }


def _duration(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" if n > 1 else unit
    return f"{seconds} s"
