"""Streaming aggregation of capture records into bounded-size statistics.

Nothing here grows with the number of records: time buckets coarsen when there are
too many, histograms have fixed bins, the scatter sample is a fixed-size reservoir and
only the N lowest-confidence images are kept (as small thumbnails).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from monitoring.capture import (
    CapturedInference,
    CaptureFormatError,
    LineStatus,
    MissingOutputError,
    NonJsonOutputError,
    parse_capture_line,
)
from monitoring.pixels import UndecodableImageError, decode_rgb, image_stats, thumbnail_png

# Bucket widths in seconds, each a multiple of the one before so buckets merge exactly.
BUCKET_LADDER = (1, 10, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 28 * 86400)
MAX_BUCKETS = 240  # while streaming: bounds memory
DISPLAY_BUCKETS = 48  # for the plots: enough points, enough requests per point
HISTOGRAM_BINS = 100  # over [0, 1]
BUCKET_HISTOGRAM_BINS = 50  # per time bucket, for the median and the 10-90% band
RESERVOIR_SIZE = 4000
MAX_EXAMPLES = 5


@dataclass
class Bucket:
    count: int = 0
    confidence_sum: float = 0.0
    low: int = 0
    classes: Counter = field(default_factory=Counter)
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(BUCKET_HISTOGRAM_BINS, int))
    images: int = 0
    channel_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.confidence_sum += other.confidence_sum
        self.low += other.low
        self.classes.update(other.classes)
        self.histogram += other.histogram
        self.images += other.images
        self.channel_sum += other.channel_sum


@dataclass
class Quality:
    """How much of the input could be used, and what could not and why."""

    objects: int = 0
    lines: int = 0
    valid_records: int = 0
    outside_window: int = 0
    malformed_lines: int = 0
    oversized_lines: int = 0
    non_json_outputs: int = 0
    truncated_objects: int = 0
    unreadable_objects: int = 0
    undecodable_inputs: int = 0
    records_without_input: int = 0
    records_without_output: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, where: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        examples = self.examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(where)


@dataclass(order=True)
class LowConfidence:
    confidence: float
    event_id: str = field(compare=False)
    inference_time: datetime = field(compare=False)
    predicted_index: int = field(compare=False)
    object_key: str = field(compare=False)
    thumbnail: bytes | None = field(compare=False)


class Aggregator:
    """Feeds on capture lines; holds bounded statistics of the records in the window."""

    def __init__(
        self,
        threshold: float,
        since: datetime | None = None,
        until: datetime | None = None,
        lowest_n: int = 12,
        seed: int = 0,
        measure_pixels: bool = True,
    ) -> None:
        self.threshold = threshold
        # Decoding every image is most of the cost; without drift, only the images that
        # enter the lowest-confidence strip are decoded.
        self.measure_pixels = measure_pixels
        self.since, self.until = since, until
        self.lowest_n = lowest_n
        self.quality = Quality()
        self.count = 0
        self.low = 0
        self.confidence_sum = 0.0
        self.confidence_min = 1.0
        self.histogram = np.zeros(HISTOGRAM_BINS, int)
        self.classes: Counter = Counter()
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.images = 0
        self.channel_sum = np.zeros(3)
        self.channel_sq_sum = np.zeros(3)
        self.bucket_seconds = BUCKET_LADDER[0]
        self.buckets: dict[int, Bucket] = {}
        self.reservoir: list[tuple[float, float]] = []  # (epoch seconds, confidence)
        self._seen_for_reservoir = 0
        self._random = random.Random(seed)  # noqa: S311 - sampling for a plot, not secrets
        self._lowest: list[tuple[float, int, LowConfidence]] = []  # max-heap by -confidence
        self._sequence = 0

    # ------------------------------------------------------------------ input

    def add_line(self, line: bytes, status: LineStatus, where: str) -> None:
        self.quality.lines += 1
        if status is LineStatus.OVERSIZED:
            self.quality.note("oversized_lines", where)
            return
        try:
            record = parse_capture_line(line)
        except NonJsonOutputError:
            self.quality.note("non_json_outputs", where)
            return
        except MissingOutputError:
            self.quality.note("records_without_output", where)
            return
        except CaptureFormatError:
            kind = "truncated_objects" if status is LineStatus.UNTERMINATED else "malformed_lines"
            self.quality.note(kind, where)
            return
        self.add_record(record, where)

    def add_record(self, record: CapturedInference, where: str) -> None:
        when = record.inference_time
        if (self.since and when < self.since) or (self.until and when >= self.until):
            self.quality.outside_window += 1
            return
        self.quality.valid_records += 1
        confidence = record.confidence
        predicted = record.predicted_index
        low = confidence < self.threshold
        self.count += 1
        self.low += low
        self.confidence_sum += confidence
        self.confidence_min = min(self.confidence_min, confidence)
        self.histogram[_bin(confidence, HISTOGRAM_BINS)] += 1
        self.classes[predicted] += 1
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)

        bucket = self._bucket(when)
        bucket.count += 1
        bucket.confidence_sum += confidence
        bucket.low += low
        bucket.classes[predicted] += 1
        bucket.histogram[_bin(confidence, BUCKET_HISTOGRAM_BINS)] += 1
        self._sample(when.timestamp(), confidence)

        image = self._image(record, where) if self.measure_pixels else None
        if image is not None:
            stats = image_stats(image)
            self.images += 1
            self.channel_sum += stats.channel_mean
            self.channel_sq_sum += stats.channel_sq_mean
            bucket.images += 1
            bucket.channel_sum += stats.channel_mean
        self._keep_if_lowest(record, image, where)

    # ------------------------------------------------------------------ output

    def lowest(self) -> list[LowConfidence]:
        """The kept lowest-confidence records, least confident first."""
        return sorted(entry for _, _, entry in self._lowest)

    def sorted_buckets(self) -> list[tuple[datetime, Bucket]]:
        return [
            (datetime.fromtimestamp(k * self.bucket_seconds, UTC), self.buckets[k])
            for k in sorted(self.buckets)
        ]

    # ------------------------------------------------------------------ internals

    def _image(self, record: CapturedInference, where: str):
        if record.input_body is None:
            self.quality.note("records_without_input", where)
            return None
        try:
            return decode_rgb(record.input_body)
        except UndecodableImageError:
            self.quality.note("undecodable_inputs", where)
            return None

    def _bucket(self, when: datetime) -> Bucket:
        key = int(when.timestamp()) // self.bucket_seconds
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket()
            if len(self.buckets) > MAX_BUCKETS:
                self._coarsen()
                return self._bucket(when)
        return bucket

    def finish(self, target_buckets: int = DISPLAY_BUCKETS) -> None:
        """Widens the buckets until the time span fits in about `target_buckets` of them,
        so each holds enough requests for a median and a class mix to mean something."""
        if self.first is None or self.last is None:
            return
        span = (self.last - self.first).total_seconds()
        while (
            self.bucket_seconds < BUCKET_LADDER[-1] and span / self.bucket_seconds > target_buckets
        ):
            self._widen()

    def _coarsen(self) -> None:
        while len(self.buckets) > MAX_BUCKETS and self.bucket_seconds < BUCKET_LADDER[-1]:
            self._widen()

    def _widen(self) -> None:
        wider = next(w for w in BUCKET_LADDER if w > self.bucket_seconds)
        factor = wider // self.bucket_seconds
        merged: dict[int, Bucket] = {}
        for key, bucket in self.buckets.items():
            merged.setdefault(key // factor, Bucket()).merge(bucket)
        self.buckets, self.bucket_seconds = merged, wider

    def _sample(self, epoch: float, confidence: float) -> None:
        # Reservoir sampling (Algorithm R): a uniform sample of every point seen so far.
        self._seen_for_reservoir += 1
        if len(self.reservoir) < RESERVOIR_SIZE:
            self.reservoir.append((epoch, confidence))
            return
        slot = self._random.randrange(self._seen_for_reservoir)
        if slot < RESERVOIR_SIZE:
            self.reservoir[slot] = (epoch, confidence)

    def _keep_if_lowest(self, record: CapturedInference, image, where: str) -> None:
        if self.lowest_n <= 0:
            return
        full = len(self._lowest) >= self.lowest_n
        if full and record.confidence >= -self._lowest[0][0]:
            return
        # The thumbnail is made only for records that enter the heap.
        if image is None and not self.measure_pixels and record.input_body is not None:
            try:
                image = decode_rgb(record.input_body)
            except UndecodableImageError:
                image = None
        entry = LowConfidence(
            confidence=record.confidence,
            event_id=record.event_id,
            inference_time=record.inference_time,
            predicted_index=record.predicted_index,
            object_key=where,
            thumbnail=thumbnail_png(image) if image is not None else None,
        )
        self._sequence += 1
        item = (-record.confidence, -self._sequence, entry)
        if full:
            heapq.heapreplace(self._lowest, item)
        else:
            heapq.heappush(self._lowest, item)


def _bin(confidence: float, bins: int) -> int:
    return min(max(int(confidence * bins), 0), bins - 1)
