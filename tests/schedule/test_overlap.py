"""Overlap: two runs are kept apart only when their selectors provably cannot meet."""

from __future__ import annotations

import pytest

from chaos.schedule.overlap import first_overlap, overlap, reaches
from chaos.spec.models import TargetSpec


def reach(lab: str = "lab1", **target):
    return reaches([TargetSpec.model_validate(target)], lab=lab)[0]


def process(labels, lab=None):
    selector = {"labels": labels} | ({"lab": lab} if lab else {})
    return {"kind": "process", "selector": selector}


def pod(namespace, labels=None, **more):
    return {
        "kind": "pod",
        "selector": {"namespace": namespace, "labels": labels or {"a": "b"}} | more,
    }


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (process({"app": "api"}), process({"app": "api"}), True),
        (process({"app": "api"}), process({"app": "store"}), False),  # same key, other value
        (process({"app": "api"}), process({"tier": "backend"}), True),  # could be the same
        (process({"app": "api"}), process({"app": "api"}, lab="other"), False),
        (pod("shop", {"app": "web"}), pod("shop", {"app": "web", "v": "2"}), True),
        (pod("shop"), pod("blog"), False),
        (pod("shop", node="n1"), pod("shop", node="n2"), False),
        (pod("shop", names=["web-1"]), pod("shop", names=["web-2"]), False),
        (pod("shop", names=["web-1"]), pod("shop", names=["web-1", "web-2"]), True),
        (
            pod("shop", fields={"status.phase": "Running"}),
            pod("shop", fields={"status.phase": "Pending"}),
            False,
        ),
        (pod("shop"), {"kind": "node", "selector": {"labels": {"pool": "a"}}}, True),
        (pod("shop", node="n1"), {"kind": "node", "selector": {"names": ["n2"]}}, False),
        (
            process({"app": "api"}),
            {"kind": "container", "selector": {"labels": {"app": "api"}}},
            False,
        ),
        (
            {"kind": "container", "selector": {"labels": {"app": "api"}, "hosts": ["a"]}},
            {"kind": "container", "selector": {"labels": {"app": "api"}, "hosts": ["b"]}},
            True,  # two host names may be one engine
        ),
    ],
)
def test_overlap(a, b, expected):
    first, second = reach(**a), reach(**b)
    assert overlap(first, second) is expected
    assert overlap(second, first) is expected


def test_a_process_selector_without_lab_is_in_the_runs_lab():
    assert not overlap(
        reach("lab1", **process({"app": "api"})), reach("lab2", **process({"app": "api"}))
    )


def test_unreadable_targets_overlap_everything():
    mine = (reach(**process({"app": "api"})),)
    assert first_overlap(mine, None) == (mine[0], None)
    assert first_overlap(mine, ()) is None
