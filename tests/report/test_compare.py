"""Regressions against an earlier run: direction from the threshold, the margin, the
noise floors, probes, time to recover."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chaos.report.compare import compare, nothing_to_compare
from tests.report import samples


def with_values(document: dict[str, Any], name: str, **values: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for row in changed["verdict"]:
        if row["name"] == name:
            row.update(values)
    return changed


def flagged(current: dict[str, Any], previous: dict[str, Any], margin: float = 10.0) -> set:
    result = compare(current, previous, margin_pct=margin)
    return {(r["name"], r["measure"]) for r in result["regressions"]}


@pytest.fixture
def earlier() -> dict[str, Any]:
    return samples.passing_document()


def test_the_same_run_has_no_regression(earlier: dict[str, Any]) -> None:
    result = compare(earlier, earlier, margin_pct=10.0)
    assert result["regressions"] == []
    assert result["compared"]  # it did compare: every SLI and probe, three measures
    assert {c["measure"] for c in result["compared"]} == {
        "fault_worst",
        "recovery",
        "time_to_recover_s",
    }
    assert result["against"]["run_id"] == earlier["run"]["id"]


def test_higher_is_worse_for_an_upper_threshold(earlier: dict[str, Any]) -> None:
    # p99 < 500: 900 -> 1000 ms is +11 %, over a 10 % margin; 900 -> 980 ms is not
    assert flagged(with_values(earlier, "p99", fault_worst=1000.0), earlier) == {
        ("p99", "fault_worst")
    }
    assert flagged(with_values(earlier, "p99", fault_worst=980.0), earlier) == set()
    assert flagged(with_values(earlier, "p99", fault_worst=980.0), earlier, margin=5) == {
        ("p99", "fault_worst")
    }
    # better is never a regression, however large
    assert flagged(with_values(earlier, "p99", fault_worst=10.0), earlier) == set()


def test_lower_is_worse_for_a_lower_threshold(earlier: dict[str, Any]) -> None:
    # throughput > 20: 60 -> 50 req/s is worse; 60 -> 90 is better
    assert flagged(with_values(earlier, "throughput", fault_worst=50.0), earlier) == {
        ("throughput", "fault_worst")
    }
    assert flagged(with_values(earlier, "throughput", fault_worst=90.0), earlier) == set()


def test_noise_below_the_floor_is_not_a_regression(earlier: dict[str, Any]) -> None:
    # error ratio 0 -> 0.05 %: infinitely worse in relative terms, but under 0.1 pp
    assert flagged(with_values(earlier, "errors", fault_worst=0.0005), earlier) == set()
    assert flagged(with_values(earlier, "errors", fault_worst=0.02), earlier) == {
        ("errors", "fault_worst")
    }
    # time to recover: 1 s -> 1.9 s is within one sampling interval
    assert flagged(with_values(earlier, "p99", time_to_recover_s=1.9), earlier) == set()
    assert flagged(with_values(earlier, "p99", time_to_recover_s=4.0), earlier) == {
        ("p99", "time_to_recover_s")
    }


def test_a_probe_that_passes_less_often_regressed(earlier: dict[str, Any]) -> None:
    worse = with_values(earlier, "home", fault_worst=0.5)
    result = compare(worse, earlier, margin_pct=10.0)
    (regression,) = result["regressions"]
    assert regression["summary"] == "home worst during fault: 100% passed → 50% passed (-50%)"


def test_what_cannot_be_compared_is_said(earlier: dict[str, Any]) -> None:
    other = copy.deepcopy(earlier)
    other["run"]["experiment"] = "something-else"
    other["verdict"] = [row for row in other["verdict"] if row["name"] != "p99"]
    result = compare(earlier, other, margin_pct=10.0)
    assert result["notes"] == [
        "comparing runs of different experiments: shop-latency against something-else",
        f"sli p99 is not in run {other['run']['id']}: not compared",
    ]
    # no data on either side: that measure is skipped, not called a regression
    blank = with_values(earlier, "p99", fault_worst=None)
    assert ("p99", "fault_worst") not in {
        (c["name"], c["measure"]) for c in compare(blank, earlier, margin_pct=10)["compared"]
    }


def test_nothing_to_compare_is_an_empty_comparison_with_its_reason() -> None:
    result = nothing_to_compare("no earlier passed run", margin_pct=10.0)
    assert result == {
        "against": None,
        "margin_pct": 10.0,
        "compared": [],
        "regressions": [],
        "notes": ["no earlier passed run"],
    }
