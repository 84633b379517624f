"""Per-second load windows and load SLIs: bucketing, percentiles, merging, metrics."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from chaos.load.stats import (
    MAX_ERROR_KINDS,
    OTHER_ERRORS,
    LoadWindow,
    bucket_us,
    load_metric,
    merge_windows,
    percentile_ms,
)
from chaos.spec.steady import LoadMetric


def nearest_rank(values: list[float], q: float) -> float:
    """Textbook nearest rank, with an exact rank (Fraction: no floating-point ceil trap)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Fraction(str(q)) * len(ordered) / 100)) - 1]


def histogram_of(latencies_ms: list[float]) -> dict[int, int]:
    histogram: dict[int, int] = {}
    for latency in latencies_ms:
        bucket = bucket_us(latency)
        histogram[bucket] = histogram.get(bucket, 0) + 1
    return histogram


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (1.2345, 1230),
        (56.789, 56800),
        (0.4567, 457),
        (0.0004, 0),
        (0.9996, 1000),
        (9.996, 10000),
        (1234.5678, 1230000),
        (0.0, 0),
        (-3.0, 0),
        (math.nan, 0),
    ],
)
def test_bucket_keeps_three_significant_digits_and_exact_microseconds_below_1ms(
    ms: float, expected: int
) -> None:
    assert bucket_us(ms) == expected


def test_bucketing_error_is_at_most_half_a_unit_of_the_third_digit() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        ms = 10 ** rng.uniform(-1, 5)  # 0.1 ms .. 100 s
        us = ms * 1000
        bucket = bucket_us(ms)
        if us < 1000:
            assert abs(bucket - us) <= 0.5
        else:
            assert abs(bucket - us) / us <= 0.005 + 1e-12, (ms, bucket)


def test_bucketing_is_monotonic_so_ranks_survive_it() -> None:
    values = sorted(random.Random(3).uniform(0, 5000) for _ in range(5000))
    buckets = [bucket_us(value) for value in values]
    assert buckets == sorted(buckets)


def test_nearest_rank_percentiles() -> None:
    histogram = {1000: 50, 2000: 40, 5000: 9, 90000: 1}  # 100 requests
    assert percentile_ms(histogram, 50) == 1.0
    assert percentile_ms(histogram, 51) == 2.0
    assert percentile_ms(histogram, 90) == 2.0
    assert percentile_ms(histogram, 99) == 5.0
    assert percentile_ms(histogram, 99.5) == 90.0
    assert percentile_ms(histogram, 100) == 90.0
    assert percentile_ms(histogram, 0) == 1.0  # rank at least 1: the minimum


def test_percentile_ranks_are_exact_for_decimal_percentiles() -> None:
    # 0.99 * 100 is 99.00000000000001 in floating point: a naive ceil() picks rank 100.
    histogram = {bucket: 1 for bucket in range(1, 101)}
    assert percentile_ms(histogram, 99) == 0.099
    assert percentile_ms(histogram, 99.9) == 0.1


def test_percentiles_agree_with_the_raw_requests_within_bucket_precision() -> None:
    rng = random.Random(11)
    latencies = [rng.lognormvariate(1.5, 0.8) for _ in range(10_000)]
    histogram = histogram_of(latencies)
    for q in (50, 90, 95, 99, 99.9, 100):
        exact = nearest_rank(latencies, q)
        assert percentile_ms(histogram, q) == pytest.approx(exact, rel=0.005, abs=0.0005)


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile_ms({}, 99))
    assert math.isnan(percentile_ms({1000: 0}, 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile_ms({1000: 1}, 101)


def test_merge_sums_counts_keeps_latest_second_and_last_known_users() -> None:
    first = LoadWindow(100, 10, 1, {1000: 6, 2000: 4}, {"status 503, expected 200": 1}, users=5)
    second = LoadWindow(101, 5, 2, {2000: 5}, {"status 503, expected 200": 1, "boom": 1}, users=6)
    late = LoadWindow(100, 1, 0, {3000: 1}, {}, users=None)
    merged = merge_windows([first, second, late])
    assert merged.second == 101
    assert (merged.requests, merged.failures) == (16, 3)
    assert dict(merged.histogram) == {1000: 6, 2000: 9, 3000: 1}
    assert dict(merged.errors) == {"status 503, expected 200": 2, "boom": 1}
    assert merged.users == 6  # the late window knew no user count


def test_merge_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no load windows"):
        merge_windows([])


def test_error_kinds_are_capped_with_the_rest_under_other() -> None:
    errors = {f"error {index:02d}": index + 1 for index in range(30)}
    window = LoadWindow(1, 465, 465, {1000: 465}, errors)
    assert len(window.errors) == MAX_ERROR_KINDS + 1
    assert window.errors[OTHER_ERRORS] == sum(range(1, 11))  # the ten rarest
    assert "error 29" in window.errors
    merged = merge_windows([window, LoadWindow(2, 1, 1, {1000: 1}, {"new kind": 1})])
    assert len(merged.errors) == MAX_ERROR_KINDS + 1
    assert sum(merged.errors.values()) == 466


def test_json_round_trip_with_string_histogram_keys() -> None:
    window = LoadWindow(1795000000, 3, 1, {1230: 2, 56800: 1}, {"status 503": 1}, users=4)
    data = window.to_json()
    assert data["histogram"] == {"1230": 2, "56800": 1}
    assert LoadWindow.from_json({"type": "window", **data}) == window
    empty = LoadWindow(5, 0, 0)
    assert LoadWindow.from_json(empty.to_json()) == empty
    assert empty.to_json()["users"] is None


def test_windows_are_immutable() -> None:
    window = LoadWindow(1, 1, 0, {1000: 1})
    with pytest.raises(TypeError):
        window.histogram[1000] = 2  # type: ignore[index]


WINDOWS = [
    LoadWindow(10, 100, 0, {1000: 90, 10000: 10}, users=10),
    LoadWindow(11, 0, 0, users=10),
    LoadWindow(12, 100, 20, {1000: 80, 200000: 20}, {"status 503, expected 200": 20}, users=10),
]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (LoadMetric.THROUGHPUT, 200 / 4),
        (LoadMetric.ERROR_RATIO, 0.1),
        (LoadMetric.LATENCY_P50, 1.0),
        (LoadMetric.LATENCY_P90, 10.0),
        (LoadMetric.LATENCY_P95, 200.0),
        (LoadMetric.LATENCY_P99, 200.0),
        (LoadMetric.LATENCY_MAX, 200.0),
    ],
)
def test_load_metrics_over_merged_windows(metric: LoadMetric, expected: float) -> None:
    # 4 seconds: one of them (13) had no window at all, and still counts for throughput.
    assert load_metric(WINDOWS, metric, seconds=4) == pytest.approx(expected)


def test_metrics_without_requests() -> None:
    empty = [LoadWindow(10, 0, 0, users=3)]
    assert load_metric(empty, LoadMetric.THROUGHPUT, seconds=1) == 0.0
    assert load_metric([], LoadMetric.THROUGHPUT, seconds=3) == 0.0
    for metric in (LoadMetric.ERROR_RATIO, LoadMetric.LATENCY_P99, LoadMetric.LATENCY_MAX):
        assert math.isnan(load_metric(empty, metric, seconds=1))
        assert math.isnan(load_metric([], metric, seconds=1))
    with pytest.raises(ValueError, match="at least one second"):
        load_metric(WINDOWS, LoadMetric.THROUGHPUT, seconds=0)
