"""Executors carry planned faults to where they act.

``LocalExecutor`` runs fault modules in this process (the process lab). The
agent executor (next milestone) sends the same requests to node agents; the run
loop only sees this Protocol.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from chaos.errors import ChaosError, FaultError, RevertError
from chaos.faults import pinning
from chaos.faults.base import FaultRequest, HostContext, Undo, Where
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

    def close(self) -> None:
        """Release connections and stop background work (lease renewals), after the reverts."""
        ...


class LocalExecutor:
    """Runs fault modules in-process against local targets."""

    def __init__(self, *, backends: Mapping[str, TargetBackend], host: HostContext | None = None):
        self._backends = backends
        self._host = host or HostContext()

    def apply(self, fault: PlannedFault, *, ttl_s: float | None) -> AppliedFault:
        target = fault.target
        backend = self._backends.get(target.kind)
        context = {"step": fault.step_path, "target": fault.target_name, "node": target.node}
        try:
            still_there = backend is None or backend.exists(target)
        except ChaosError as exc:  # the daemon or API server did not answer
            raise FaultError(f"{fault.fault.name}: {exc.message}", **context) from exc
        if not still_there:
            raise FaultError(
                f"{fault.fault.name}: target {target.display} vanished before injection", **context
            )
        request = request_for(fault, ttl_s=ttl_s)
        try:
            if fault.fault.where is Where.NODE:
                # a container on this host, no agent: resolve its PID here (needs root)
                request = pinning.pin(request, node=target.node)
            prepared = fault.fault.prepare(request, self._host)
        except ChaosError as exc:
            raise FaultError(exc.message, **context) from exc
        try:
            undo = fault.fault.apply(request, prepared, self._host)
        except Exception as exc:
            # the apply may have got half-way (one link of two, a chain without its jump):
            # take back whatever it did before reporting, as an agent does
            message = exc.message if isinstance(exc, ChaosError) else repr(exc)
            try:
                fault.fault.revert(prepared, self._host)
            except Exception as undo_exc:
                message += f"; undoing the partial apply also failed: {undo_exc!r}"
            raise FaultError(message, **context) from exc
        return AppliedFault(planned=fault, undo=undo, applied_at=time.time())

    def revert(self, applied: AppliedFault) -> None:
        fault = applied.planned
        try:
            fault.fault.revert(applied.undo, self._host)
        except ChaosError as exc:
            raise RevertError(
                exc.message, step=fault.step_path, target=fault.target_name, node=fault.target.node
            ) from exc

    def close(self) -> None:
        """Nothing runs in the background here."""


def request_for(fault: PlannedFault, *, ttl_s: float | None) -> FaultRequest:
    return FaultRequest(
        fault_id=fault.fault_id,
        key=fault.key,
        target=fault.target,
        params=fault.params,
        peers=fault.peers,
        ttl_s=ttl_s,
    )
