"""The ledger of a run's faults: what is applied now, what could not be reverted.

Every apply and every revert goes through here and becomes an event, so the
record of a run always says what was done to the system and what was undone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chaos.controller.events import EventKind
from chaos.controller.executor import AppliedFault, Executor
from chaos.errors import FaultError
from chaos.plan.planner import PlannedFault

Emit = Callable[[EventKind, str, dict[str, Any]], None]
FANOUT = 64  # concurrent requests when one step acts on many targets


class FaultLedger:
    def __init__(self, *, executor: Executor, emit: Emit) -> None:
        self._executor = executor
        self._emit = emit
        self._lock = threading.Lock()
        self._active: list[AppliedFault] = []
        self.unreverted: list[str] = []
        self.applied_count = 0  # faults ever applied in this run

    def apply(self, fault: PlannedFault, *, ttl_s: float | None) -> AppliedFault:
        try:
            applied = self._executor.apply(fault, ttl_s=ttl_s)
        except FaultError as exc:
            self._emit(EventKind.FAULT_APPLY_FAILED, str(exc), fault_data(fault))
            raise
        with self._lock:
            self._active.append(applied)
            self.applied_count += 1
        detail, backend = applied.undo.detail, applied.undo.backend
        self._emit(
            EventKind.FAULT_APPLIED,
            f"{describe(fault)}: {detail}" + (f" [{backend}]" if backend else ""),
            {**fault_data(fault), "detail": detail, "backend": backend, "ttl_s": ttl_s},
        )
        return applied

    def revert(self, applied: AppliedFault) -> None:
        """Revert one fault (once); a failure is recorded, never raised."""
        with self._lock:
            if applied not in self._active:
                return
            self._active.remove(applied)
        fault = applied.planned
        data = {**fault_data(fault), "detail": applied.undo.detail}
        try:
            self._executor.revert(applied)
        except Exception as exc:  # any failure here must not stop the other reverts
            message = getattr(exc, "message", None) or repr(exc)
            self.unreverted.append(f"{describe(fault)}: {message}")
            self._emit(EventKind.FAULT_REVERT_FAILED, f"{describe(fault)}: {message}", data)
            return
        if fault.fault.reversible:
            self._emit(EventKind.FAULT_REVERTED, f"{describe(fault)}: reverted", data)
        else:
            self._emit(
                EventKind.FAULT_REVERTED,
                f"{describe(fault)}: irreversible, nothing to revert",
                {**data, "irreversible": True},
            )

    def apply_all(
        self,
        faults: Sequence[PlannedFault],
        *,
        ttl_for: Callable[[PlannedFault], float | None],
        stopped: Callable[[], bool],
    ) -> list[AppliedFault]:
        """Apply faults concurrently (one target does not wait for another). If any fails,
        the first error is raised once the others are done; everything applied is in the
        ledger, so the run's final revert takes it back."""
        if not faults:
            return []

        def apply_one(fault: PlannedFault) -> AppliedFault | None:
            return None if stopped() else self.apply(fault, ttl_s=ttl_for(fault))

        with ThreadPoolExecutor(max_workers=min(FANOUT, len(faults))) as pool:
            futures = [pool.submit(apply_one, fault) for fault in faults]
        applied, errors = [], []
        for future in futures:
            try:
                result = future.result()
            except FaultError as exc:
                errors.append(exc)
                continue
            if result is not None:
                applied.append(result)
        if errors:
            raise errors[0]
        return applied

    def revert_all(self) -> None:
        """Revert everything still applied: targets concurrently, each target's faults
        newest first."""
        with self._lock:
            pending = list(reversed(self._active))
        by_target: dict[str, list[AppliedFault]] = {}
        for applied in pending:
            by_target.setdefault(applied.planned.target.uid, []).append(applied)
        if not by_target:
            return

        def revert_target(faults: list[AppliedFault]) -> None:
            for applied in faults:
                self.revert(applied)

        with ThreadPoolExecutor(max_workers=min(FANOUT, len(by_target))) as pool:
            list(pool.map(revert_target, by_target.values()))


def describe(fault: PlannedFault) -> str:
    return f"{fault.label} [{fault.target.display}]"


def dropped_reason(applied: AppliedFault, *, held_s: float, why: str | None) -> str | None:
    """Why a run that lost ``applied``'s lease after ``held_s`` cannot pass (``why``: None
    when the agent dropped it, else how the lease ran out); None when losing it changes
    nothing (an irreversible fault did all it does at apply)."""
    fault = applied.planned
    if not fault.fault.reversible:
        return None
    where = f"fault {describe(fault)} on node {fault.target.node or '?'}"
    how_long = f"after {held_s:.1f}s of its {fault.duration:g}s"
    if why is None:
        what = f"{where} was dropped by the agent {how_long} (lease lost)"
    else:
        what = f"{where} lost its lease {how_long} ({why})"
    return what + ": the experiment did not test what it says"


def fault_data(fault: PlannedFault) -> dict[str, Any]:
    return {
        "fault": fault.fault.name,
        "step": fault.step_path,
        "label": fault.label,
        "target": fault.target_name,
        "instance": fault.target.display,
        "node": fault.target.node,
    }
