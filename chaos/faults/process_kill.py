"""process-kill: send a signal to the selected processes.

Irreversible on purpose: nothing here restarts the process. Recovery is the
system's job (a supervisor, a Deployment), and measuring it is the point.
PID 1, kernel threads, the caller and its ancestors, node daemons and a PID
namespace's init are refused (:mod:`chaos.host.protected`).
"""

from __future__ import annotations

import signal

from pydantic import Field

from chaos.errors import FaultError, HostError
from chaos.faults.base import (
    FaultRequest,
    FaultType,
    HostContext,
    Signal,
    Undo,
    nothing_to_revert,
)
from chaos.host import procfs, protected
from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind

NAME = "process-kill"


class Params(FaultParams):
    signal: Signal = Field(default=Signal.KILL, description="Signal to send (without SIG).")


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    target = request.target
    if target.pid is None or target.start_time is None:
        raise FaultError(f"{NAME} needs a process target", target=target.display, node=host.node)
    # the agent's guards check this before; the controller's own path (the process lab)
    # relies on this one
    reason = protected.dangerous(target.pid, signals=True)
    if reason is not None:
        raise FaultError(
            f"{NAME}: refusing {target.display} (pid {target.pid}): {reason}",
            target=target.display,
            node=host.node,
        )
    return Undo(fault=NAME, data={"pid": target.pid}, backend="signal")


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    target = request.target
    assert isinstance(request.params, Params)
    assert target.pid is not None and target.start_time is not None
    signum = signal.Signals[f"SIG{request.params.signal.value}"]
    try:
        procfs.send_signal(procfs.ProcessIdentity(target.pid, target.start_time), signum)
    except HostError as exc:
        raise FaultError(f"{NAME}: {exc.message}", target=target.display, node=host.node) from exc
    detail = f"sent SIG{request.params.signal.value} to pid {target.pid}"
    return Undo(fault=NAME, data=undo.data, detail=detail, backend=undo.backend)


FAULT = FaultType(
    name=NAME,
    summary="Send a signal (default KILL) to each selected process.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=nothing_to_revert,
    reversible=False,
    target_kinds=frozenset({TargetKind.PROCESS}),
)
