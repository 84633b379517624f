"""The ledger reverts everything it applied, records each revert, and a revert that
blows up never stops the others."""

from __future__ import annotations

import pytest

from chaos.controller.events import EventKind
from chaos.controller.executor import AppliedFault
from chaos.controller.ledger import FaultLedger
from chaos.errors import FaultError, RevertError
from chaos.faults import CATALOG
from chaos.faults.base import Undo
from chaos.plan.planner import PlannedFault
from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind
from chaos.targets.base import Target


def planned(name: str, fault: str = "network-latency") -> PlannedFault:
    target = Target(kind=TargetKind.PROCESS, uid=name, display=name, node="n1")
    return PlannedFault(
        fault_id=f"k-{name}",
        key="k",
        step_path="spec.method[0]",
        label=f"{fault} on {name}",
        fault=CATALOG[fault],
        params=FaultParams(),
        target_name=name,
        target=target,
        peers={},
        duration=1.0,
    )


class RecordingExecutor:
    """Applies nothing real: records calls, and fails where told to (a unit-test double of
    the Executor Protocol; the real executors are exercised end to end in tests/e2e)."""

    def __init__(self, *, fail_apply=(), fail_revert=(), crash_revert=()):
        self.reverted: list[str] = []
        self.fail_apply, self.fail_revert, self.crash_revert = fail_apply, fail_revert, crash_revert

    def apply(self, fault, *, ttl_s):
        if fault.target_name in self.fail_apply:
            raise FaultError("proxy unreachable", target=fault.target_name)
        return AppliedFault(planned=fault, undo=Undo(fault.fault.name, {}, "toxic"), applied_at=0)

    def revert(self, applied):
        name = applied.planned.target_name
        if name in self.fail_revert:
            raise RevertError("proxy unreachable")
        if name in self.crash_revert:
            raise KeyError("links")
        self.reverted.append(name)


@pytest.fixture
def events():
    return []


def ledger_with(executor, events):
    return FaultLedger(executor=executor, emit=lambda kind, msg, data: events.append((kind, msg)))


def test_revert_all_reverts_newest_first_and_only_once(events):
    executor = RecordingExecutor()
    ledger = ledger_with(executor, events)
    first, second = ledger.apply(planned("a"), ttl_s=5), ledger.apply(planned("b"), ttl_s=5)
    ledger.revert(first)
    ledger.revert_all()
    ledger.revert_all()
    assert executor.reverted == ["a", "b"]
    assert [k for k, _ in events].count(EventKind.FAULT_REVERTED) == 2
    assert second.planned.target_name == "b"


def test_a_failing_or_crashing_revert_does_not_stop_the_others(events):
    executor = RecordingExecutor(fail_revert=("a",), crash_revert=("b",))
    ledger = ledger_with(executor, events)
    for name in ("a", "b", "c"):
        ledger.apply(planned(name), ttl_s=5)
    ledger.revert_all()
    assert executor.reverted == ["c"]
    assert len(ledger.unreverted) == 2
    assert any("KeyError" in item for item in ledger.unreverted)
    assert [k for k, _ in events].count(EventKind.FAULT_REVERT_FAILED) == 2


def test_a_failed_apply_is_recorded_and_leaves_nothing_active(events):
    executor = RecordingExecutor(fail_apply=("a",))
    ledger = ledger_with(executor, events)
    with pytest.raises(FaultError):
        ledger.apply(planned("a"), ttl_s=5)
    ledger.revert_all()
    assert executor.reverted == [] and events[0][0] is EventKind.FAULT_APPLY_FAILED


def test_irreversible_faults_say_there_is_nothing_to_revert(events):
    ledger = ledger_with(RecordingExecutor(), events)
    ledger.apply(planned("a", fault="process-kill"), ttl_s=None)
    ledger.revert_all()
    assert "irreversible, nothing to revert" in events[-1][1]
