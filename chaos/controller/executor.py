"""Executors carry planned faults to where they act.

``LocalExecutor`` runs fault modules in this process (the process lab). The
agent executor (next milestone) sends the same requests to node agents; the run
loop only sees this Protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from chaos.errors import ChaosError, FaultError, RevertError
from chaos.faults.base import FaultRequest, Undo
from chaos.plan.planner import PlannedFault
from chaos.targets.base import TargetBackend


@dataclass(frozen=True)
class AppliedFault:
    planned: PlannedFault
    undo: Undo
    applied_at: float


class Executor(Protocol):
    def apply(self, fault: PlannedFault, *, ttl_s: float | None) -> AppliedFault:
        """Apply one fault; raise FaultError with nothing left applied on failure."""
        ...

    def revert(self, applied: AppliedFault) -> None:
        """Revert one fault; idempotent; raise RevertError if it cannot be confirmed."""
        ...


class LocalExecutor:
    """Runs fault modules in-process against local targets."""

    def __init__(self, *, backends: dict[str, TargetBackend]) -> None:
        self._backends = backends

    def apply(self, fault: PlannedFault, *, ttl_s: float | None) -> AppliedFault:
        target = fault.target
        backend = self._backends.get(target.kind)
        if backend is not None and not backend.exists(target):
            raise FaultError(
                f"{fault.fault.name}: target {target.display} vanished before injection",
                step=fault.step_path,
                target=fault.target_name,
                node=target.node,
            )
        request = FaultRequest(
            key=fault.key, target=target, params=fault.params, peers=fault.peers, ttl_s=ttl_s
        )
        try:
            undo = fault.fault.apply(request)
        except ChaosError as exc:
            raise FaultError(
                exc.message, step=fault.step_path, target=fault.target_name, node=target.node
            ) from exc
        return AppliedFault(planned=fault, undo=undo, applied_at=time.time())

    def revert(self, applied: AppliedFault) -> None:
        fault = applied.planned
        try:
            fault.fault.revert(applied.undo)
        except ChaosError as exc:
            raise RevertError(
                exc.message, step=fault.step_path, target=fault.target_name, node=fault.target.node
            ) from exc
