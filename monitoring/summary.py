"""The report's numbers and flags, from an Aggregator and the drift reference."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from monitoring.aggregate import HISTOGRAM_BINS, Aggregator
from monitoring.pixels import LUMA_WEIGHTS
from monitoring.reference import DriftReference

DEFAULT_CLASS_NAMES = ("bicycle", "motorcycle")
CHANNELS = ("red", "green", "blue", "brightness")
QUALITY_LABELS = {
    "malformed_lines": "lines that are not capture records",
    "non_json_outputs": "outputs that are not JSON class probabilities",
    "truncated_objects": "truncated objects (last line cut off)",
    "unreadable_objects": "objects that could not be read to the end",
    "oversized_lines": "lines over the size limit (skipped)",
    "undecodable_inputs": "inputs that are not decodable images (no drift data)",
    "records_without_input": "records without a captured input (no drift data)",
    "records_without_output": "records without a captured output (capture mode Input only?)",
    "outside_window": "records outside the time window (skipped)",
}


@dataclass(frozen=True)
class Limits:
    threshold: float = 0.93
    low_share_limit: float = 0.2
    drift_limit: float = 0.25  # |mean shift| in units of the reference's per-pixel std
    min_drift_images: int = 50  # fewer images than this: the mean is too noisy to judge

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0 <= self.low_share_limit <= 1:
            raise ValueError(
                f"low-confidence share limit must be in [0, 1], got {self.low_share_limit}"
            )
        if not self.drift_limit > 0:
            raise ValueError(f"drift limit must be above 0, got {self.drift_limit}")
        if self.min_drift_images < 1:
            raise ValueError(
                f"minimum drift images must be at least 1, got {self.min_drift_images}"
            )


def class_name(index: int, names: tuple[str, ...]) -> str:
    return names[index] if 0 <= index < len(names) else f"class {index}"


def histogram_quantile(histogram: np.ndarray, q: float) -> float | None:
    """The q-quantile of values binned evenly over [0, 1] (to the bin's width)."""
    total = int(histogram.sum())
    if total == 0:
        return None
    cumulative = np.cumsum(histogram)
    index = int(np.searchsorted(cumulative, q * total, side="left"))
    return (min(index, len(histogram) - 1) + 0.5) / len(histogram)


def captured_means(channel_sum: np.ndarray, images: int) -> np.ndarray:
    """(red, green, blue, brightness) means of captured images."""
    means = channel_sum / images
    return np.append(means, means @ LUMA_WEIGHTS)


def drift_shift(means: np.ndarray, reference: DriftReference) -> np.ndarray:
    """Signed shift of (R, G, B, brightness) means in units of the reference std."""
    ref_mean = np.append(reference.channel_mean, reference.brightness_mean)
    ref_std = np.append(reference.channel_std, reference.brightness_std)
    return (means - ref_mean) / ref_std


def _drift(agg: Aggregator, reference: DriftReference | None, limits: Limits) -> dict:
    drift: dict = {"images": agg.images, "reference": reference.to_json() if reference else None}
    if agg.images:
        means = captured_means(agg.channel_sum, agg.images)
        sq = agg.channel_sq_sum / agg.images
        std = np.sqrt(np.maximum(sq - means[:3] ** 2, 0.0))
        drift["captured"] = {
            "channel_mean": _round(means[:3]),
            "channel_std": _round(std),
            "brightness_mean": round(float(means[3]), 6),
        }
    if not agg.measure_pixels:
        drift["status"] = "not_measured"
        drift["note"] = "drift not measured (--no-drift)"
    elif reference is None:
        drift["status"] = "no_reference"
        drift["note"] = "no training-set pixel statistics: pass --manifest to measure drift"
    elif agg.images == 0:
        drift["status"] = "no_images"
        drift["note"] = "no decodable captured images"
    else:
        shift = drift_shift(captured_means(agg.channel_sum, agg.images), reference)
        drift["shift_std"] = dict(zip(CHANNELS, _round(shift), strict=True))
        drift["max_abs_shift"] = round(float(np.abs(shift).max()), 6)
        if agg.images < limits.min_drift_images:
            drift["status"] = "too_few_images"
            drift["note"] = (
                f"{agg.images} images: at least {limits.min_drift_images} are needed to judge drift"
            )
        else:
            drift["status"] = "drift" if drift["max_abs_shift"] > limits.drift_limit else "ok"
    return drift


def _flags(share: float | None, drift: dict, limits: Limits) -> list[dict]:
    flags = []
    if share is not None and share > limits.low_share_limit:
        flags.append(
            {
                "name": "low_confidence_share",
                "message": f"{share:.1%} of requests are below the {limits.threshold:g} "
                f"confidence threshold (limit {limits.low_share_limit:.0%})",
            }
        )
    if drift.get("status") == "drift":
        worst = max(drift["shift_std"].items(), key=lambda kv: abs(kv[1]))
        flags.append(
            {
                "name": "input_drift",
                "message": f"input {worst[0]} mean shifted by {worst[1]:+.2f} training std "
                f"(limit ±{limits.drift_limit:g})",
            }
        )
    return flags


def summarize(
    agg: Aggregator,
    reference: DriftReference | None,
    limits: Limits,
    class_names: tuple[str, ...],
    captured: bool,
) -> dict:
    """Everything the page and summary.json show. `captured`: whether the location holds
    any capture at all (in any window)."""
    count = agg.count
    share = agg.low / count if count else None
    drift = _drift(agg, reference, limits)
    flags = _flags(share, drift, limits)
    if not captured:
        status = "no_capture"
    elif count == 0:
        status = "no_data"
    else:
        status = "flagged" if flags else "ok"
    quality = {k: getattr(agg.quality, k) for k in ("objects", "lines", "valid_records")}
    quality.update({k: getattr(agg.quality, k) for k in QUALITY_LABELS})
    quality["examples"] = agg.quality.examples
    return {
        "status": status,
        "records": count,
        "window": {
            "since": _iso(agg.since),
            "until": _iso(agg.until),
            "first": _iso(agg.first),
            "last": _iso(agg.last),
        },
        "confidence": {
            "threshold": limits.threshold,
            "mean": round(agg.confidence_sum / count, 6) if count else None,
            "min": round(agg.confidence_min, 6) if count else None,
            "median_approx": histogram_quantile(agg.histogram, 0.5),
            "histogram_bins": HISTOGRAM_BINS,
            "below_threshold": agg.low,
            "below_threshold_share": round(share, 6) if share is not None else None,
        },
        "classes": [
            {
                "index": i,
                "name": class_name(i, class_names),
                "count": n,
                "share": round(n / count, 6),
            }
            for i, n in sorted(agg.classes.items())
        ],
        "drift": drift,
        "flags": flags,
        "limits": {
            "low_share_limit": limits.low_share_limit,
            "drift_limit": limits.drift_limit,
            "min_drift_images": limits.min_drift_images,
        },
        "quality": quality,
        "bucket_seconds": agg.bucket_seconds,
    }


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) if math.isfinite(v) else None for v in values]


def _iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None
