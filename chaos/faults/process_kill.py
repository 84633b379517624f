"""process-kill: send a signal to the selected processes.

Irreversible on purpose: nothing here restarts the process. Recovery is the
system's job (a supervisor, a Deployment), and measuring it is the point.
"""

from __future__ import annotations

import signal
from enum import StrEnum

from pydantic import Field

from chaos.errors import FaultError, HostError
from chaos.faults.base import FaultRequest, FaultType, Undo
from chaos.host import procfs
from chaos.spec.models import FaultParams, TargetKind

NAME = "process-kill"


class Signal(StrEnum):
    KILL = "KILL"
    TERM = "TERM"
    INT = "INT"
    HUP = "HUP"
    QUIT = "QUIT"


class Params(FaultParams):
    signal: Signal = Field(default=Signal.KILL, description="Signal to send (without SIG).")


def apply(request: FaultRequest) -> Undo:
    target = request.target
    assert isinstance(request.params, Params)
    if target.pid is None or target.start_time is None:
        raise FaultError(f"{NAME} needs a process target", target=target.display)
    signum = signal.Signals[f"SIG{request.params.signal.value}"]
    try:
        procfs.send_signal(procfs.ProcessIdentity(target.pid, target.start_time), signum)
    except HostError as exc:
        raise FaultError(f"{NAME}: {exc.message}", target=target.display, node=target.node) from exc
    detail = f"sent SIG{request.params.signal.value} to pid {target.pid}"
    return Undo(fault=NAME, data={"pid": target.pid}, detail=detail)


def revert(undo: Undo) -> None:
    """Nothing to undo: a signal cannot be taken back (the fault is irreversible)."""


FAULT = FaultType(
    name=NAME,
    summary="Send a signal (default KILL) to each selected process.",
    params=Params,
    apply=apply,
    revert=revert,
    reversible=False,
    target_kinds=frozenset({TargetKind.PROCESS}),
)
