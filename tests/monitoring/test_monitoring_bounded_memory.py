"""What the aggregator keeps does not grow with the number of records."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from monitoring.aggregate import BUCKET_LADDER, MAX_BUCKETS, RESERVOIR_SIZE, Aggregator
from monitoring.capture import CapturedInference


def _record(i: int, when: datetime, confidence: float) -> CapturedInference:
    return CapturedInference(
        event_id=f"e{i}",
        inference_time=when,
        input_content_type=None,
        input_body=None,
        probabilities=(confidence, 1 - confidence),
    )


def _feed(agg: Aggregator, n: int, step: timedelta, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    confidences = [0.5 + rng.random() / 2 for _ in range(n)]
    for i, c in enumerate(confidences):
        agg.add_record(_record(i, start + i * step, c), "k")
    return confidences


def test_a_year_of_requests_fits_in_a_bounded_number_of_time_buckets():
    agg = Aggregator(threshold=0.93)
    _feed(agg, 20_000, timedelta(minutes=27))
    assert len(agg.buckets) <= MAX_BUCKETS
    assert sum(b.count for b in agg.buckets.values()) == 20_000


def test_scatter_sample_stays_at_its_size():
    agg = Aggregator(threshold=0.93)
    _feed(agg, RESERVOIR_SIZE * 3, timedelta(seconds=1))
    assert len(agg.reservoir) == RESERVOIR_SIZE


def test_only_the_lowest_confidence_records_are_kept():
    agg = Aggregator(threshold=0.93, lowest_n=7)
    confidences = _feed(agg, 5_000, timedelta(seconds=3))
    assert [e.confidence for e in agg.lowest()] == sorted(confidences)[:7]


def test_finished_buckets_still_hold_every_request():
    agg = Aggregator(threshold=0.93)
    _feed(agg, 3_000, timedelta(seconds=7))
    agg.finish()
    assert len(agg.buckets) <= 60
    assert sum(b.count for b in agg.buckets.values()) == 3_000
    assert sum(b.low for b in agg.buckets.values()) == agg.low


def test_overflowing_buckets_widen_one_rung_only():
    agg = Aggregator(threshold=0.93)
    _feed(agg, MAX_BUCKETS + 1, timedelta(seconds=1))
    assert agg.bucket_seconds == 10
    assert len(agg.buckets) == 25


def test_years_of_weekly_requests_still_fit_the_bucket_bound():
    agg = Aggregator(threshold=0.93)
    _feed(agg, MAX_BUCKETS + 60, timedelta(days=7))
    assert len(agg.buckets) <= MAX_BUCKETS
    assert agg.bucket_seconds == BUCKET_LADDER[-1]


def test_more_buckets_than_the_bound_at_the_widest_width_are_kept_not_a_crash():
    """20 years of records (a bad clock, a long window): the widest bucket is the limit."""
    agg = Aggregator(threshold=0.93)
    _feed(agg, MAX_BUCKETS + 10, timedelta(days=28))
    agg.finish()
    assert agg.bucket_seconds == BUCKET_LADDER[-1]
    assert sum(b.count for b in agg.buckets.values()) == MAX_BUCKETS + 10


def test_bucket_times_are_utc_whatever_the_machines_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        agg = Aggregator(threshold=0.93)
        _feed(agg, 3, timedelta(seconds=1))
        times = [when for when, _ in agg.sorted_buckets()]
    finally:
        monkeypatch.undo()
        time.tzset()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert times == [start, start + timedelta(seconds=1), start + timedelta(seconds=2)]
