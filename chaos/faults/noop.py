"""noop: a fault that changes nothing, for measuring the platform itself.

It goes through every step a real fault does — validation, the agent's journal
(fsync), the lease, the revert — without touching the host, so benchmarks of
fan-out and abort latency measure the platform, not iptables.
"""

from __future__ import annotations

from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams

NAME = "noop"


class Params(FaultParams):
    """No parameters."""


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    return Undo(fault=NAME, data={"target": request.target.uid}, backend="none")


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    return Undo(fault=NAME, data=undo.data, detail="nothing changed (noop)", backend="none")


def revert(undo: Undo, host: HostContext) -> None:
    """Nothing was changed, so there is nothing to undo."""


FAULT = FaultType(
    name=NAME,
    summary="Change nothing (for benchmarks and dry runs of the machinery).",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
)
