"""The in-process executor never leaves a half-applied fault behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.controller.executor import LocalExecutor
from chaos.errors import FaultError
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.plan.planner import PlannedFault
from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind
from chaos.targets.base import Target


def two_file_fault(directory: Path, *, fail_second: bool) -> FaultType:
    """A fault that changes the host in two steps (two files) and may fail between them."""

    def prepare(request: FaultRequest, host: HostContext) -> Undo:
        files = [str(directory / f"{request.fault_id}-{n}") for n in (1, 2)]
        return Undo(fault="two-files", data={"files": files})

    def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
        first, second = undo.data["files"]
        Path(first).write_text("1")
        if fail_second:
            raise OSError("disk went away")
        Path(second).write_text("2")
        return undo

    def revert(undo: Undo, host: HostContext) -> None:
        for name in undo.data["files"]:
            Path(name).unlink(missing_ok=True)

    return FaultType(
        name="two-files",
        summary="",
        params=FaultParams,
        prepare=prepare,
        apply=apply,
        revert=revert,
    )


def planned(fault: FaultType) -> PlannedFault:
    target = Target(kind=TargetKind.PROCESS, uid="u", display="thing", node="n1")
    return PlannedFault(
        fault_id="f1",
        key="k",
        step_path="spec.method[0]",
        label="two",
        fault=fault,
        params=FaultParams(),
        target_name="thing",
        target=target,
        peers={},
        duration=1.0,
    )


def test_a_failed_apply_is_undone_before_it_is_reported(tmp_path):
    executor = LocalExecutor(backends={})
    with pytest.raises(FaultError, match="disk went away"):
        executor.apply(planned(two_file_fault(tmp_path, fail_second=True)), ttl_s=None)
    assert list(tmp_path.iterdir()) == []


def test_apply_and_revert(tmp_path):
    executor = LocalExecutor(backends={})
    applied = executor.apply(planned(two_file_fault(tmp_path, fail_second=False)), ttl_s=None)
    assert len(list(tmp_path.iterdir())) == 2
    executor.revert(applied)
    assert list(tmp_path.iterdir()) == []
