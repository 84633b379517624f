"""Absurd durations and counts are refused at validation, with the field located."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.loader import load_text

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (REPO / "experiments" / "lab-store-outage-load.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_text(text, file="x.yaml", catalog=CATALOG)
    return [str(issue) for issue in caught.value.issues]


def with_(old: str, new: str) -> str:
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, 1)


def test_the_shipped_experiment_is_within_every_limit():
    assert load_text(SHIPPED, file="x.yaml", catalog=CATALOG).spec.load.users == 8


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("baseline: 4s", "baseline: 3000000h", "spec.phases.baseline", "longer than the 24h limit"),
        ("duration: 8s", "duration: 25h", "spec.method[0].duration", "longer than the 24h limit"),
        ("users: 8", "users: 1000000", "spec.load.users", "less than or equal to 100000"),
        ("users: 8", "users: 8\n    spawnRate: 1e9", "spec.load.spawnRate", "10000"),
        ("users: 8", "users: 8\n    workers: 5000", "spec.load.workers", "256"),
        ("maxTargets: 1", "maxTargets: 1\n    leaseTtl: 2h", "spec.safety.leaseTtl", "3600"),
        ("maxTargets: 1", "maxTargets: 99999999999", "spec.safety.maxTargets", "invalid limit"),
    ],
)
def test_values_past_their_bound_are_refused_where_they_are(old, new, field, message):
    found = problems(with_(old, new))
    assert any(f": {field}: " in line and message in line for line in found), found


def test_a_pause_is_bounded_too():
    text = SHIPPED.replace("  method:\n", "  method:\n    - {pause: 100000h}\n", 1)
    found = problems(text)
    assert any(
        "spec.method[0].pause: duration '100000h' is longer than the 24h limit" in i for i in found
    )


def test_a_huge_number_in_a_duration_is_an_error_not_an_overflow():
    found = problems(with_("baseline: 4s", "baseline: " + "9" * 400 + "s"))
    assert any("spec.phases.baseline: invalid duration" in i for i in found)
    assert all(len(i) < 300 for i in found)


def test_sampling_faster_than_ten_a_second_is_refused():
    text = SHIPPED.replace("  steadyState:\n", "  steadyState:\n    interval: 1ms\n", 1)
    assert any("spec.steadyState.interval" in i for i in problems(text))


def test_too_many_steps_are_refused():
    steps = "".join("    - {pause: 1s}\n" for _ in range(1001))
    found = problems(SHIPPED.replace("  method:\n", "  method:\n" + steps, 1))
    assert any("spec.method: " in i and "at most 1000 items" in i for i in found), found[:3]


def test_a_fault_parameter_duration_is_bounded_too():
    text = with_(
        "params: {direction: in, action: reject}", "params: {direction: in, action: reject}"
    )
    text = text.replace("fault: network-partition", "fault: network-latency").replace(
        "params: {direction: in, action: reject}", "params: {delay: 48h}"
    )
    found = problems(text)
    assert any("spec.method[0].params.delay: duration '48h' is longer than" in i for i in found), (
        found
    )
