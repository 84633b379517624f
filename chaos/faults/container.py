"""container-kill, container-stop, container-pause: Docker containers, through the Docker API.

Applied through the Docker API (``Where.RUNTIME``): by the agent of the
container's host when ``spec.docker.hosts`` names one, so the fault is journaled
and held by a lease (a dead controller's pause or stop is reverted at lease
expiry), else by the controller, with no lease (a stopped or paused container
then stays so if the controller dies mid-run).

- ``container-kill`` sends a signal and is irreversible on purpose: restarting the
  container is the job of its restart policy or orchestrator, and measuring that is
  the point (as with process-kill).
- ``container-stop`` stops the container (SIGTERM, then SIGKILL after ``timeout``);
  revert starts it again unless it already runs.
- ``container-pause`` freezes every process (cgroup freezer); revert unpauses it.

``prepare`` touches nothing: it keeps the container's reference (API URL, full id,
names) in the Undo, which is all a revert needs. Reverts are idempotent and look
at the container first. A container removed in the meantime has nothing left to
restore: its revert logs that and succeeds, because failing the revert could not
bring it back either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import Field

from chaos.errors import FaultError, TargetError
from chaos.faults.base import (
    FaultRequest,
    FaultType,
    HostContext,
    Prepare,
    Signal,
    Undo,
    Where,
    nothing_to_revert,
)
from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind
from chaos.spec.units import Duration
from chaos.targets import docker as docker_target
from chaos.targets.docker import ContainerRef, ContainerState

log = logging.getLogger(__name__)

KILL = "container-kill"
STOP = "container-stop"
PAUSE = "container-pause"
BACKEND = "docker-api"
CONTAINERS = frozenset({TargetKind.CONTAINER})


class KillParams(FaultParams):
    signal: Signal = Field(default=Signal.KILL, description="Signal to send (without SIG).")


class StopParams(FaultParams):
    timeout: Duration = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Grace period between SIGTERM and SIGKILL, e.g. 10s (rounded up to seconds).",
    )


class PauseParams(FaultParams):
    pass


def _prepare_for(name: str) -> Prepare:
    def prepare(request: FaultRequest, host: HostContext) -> Undo:
        """Record which container the fault acts on; touch nothing."""
        try:
            ref = ContainerRef.from_target(request.target)
        except TargetError as exc:
            raise FaultError(
                f"{name}: {exc.message}", target=request.target.display, node=host.node
            ) from exc
        return Undo(fault=name, data=ref.to_json(), backend=BACKEND)

    return prepare


def _act(
    name: str,
    request: FaultRequest,
    undo: Undo,
    detail: str,
    action: Callable[[ContainerRef], None],
) -> Undo:
    """Run one Docker action; its failure is this fault's, with the container named."""
    try:
        action(ContainerRef.from_json(undo.data))
    except TargetError as exc:
        raise FaultError(
            f"{name}: {exc.message}", target=request.target.display, node=request.target.node
        ) from exc
    return Undo(fault=name, data=undo.data, detail=detail, backend=undo.backend)


# ---------------------------------------------------------------- container-kill


def apply_kill(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    assert isinstance(request.params, KillParams)
    sig = request.params.signal.value
    ref = ContainerRef.from_json(undo.data)
    return _act(
        KILL, request, undo, f"sent SIG{sig} to {ref}", lambda r: docker_target.kill(r, signal=sig)
    )


# ---------------------------------------------------------------- container-stop


def apply_stop(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    assert isinstance(request.params, StopParams)
    grace = request.params.timeout
    ref = ContainerRef.from_json(undo.data)
    detail = f"stopped {ref} (SIGKILL after {grace:g}s)"
    return _act(STOP, request, undo, detail, lambda r: docker_target.stop(r, timeout_s=grace))


def revert_stop(undo: Undo, host: HostContext) -> None:
    """Start the container unless it runs (or is paused, or restarting by its policy)."""
    ref = ContainerRef.from_json(undo.data)
    current = docker_target.state(ref)
    if current is ContainerState.GONE:
        log.info("%s: %s was removed meanwhile: nothing to restart", STOP, ref)
        return
    if current in {ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING}:
        return
    try:
        docker_target.start(ref)
    except TargetError:
        if docker_target.state(ref) is ContainerState.GONE:  # removed after the look
            log.info("%s: %s was removed meanwhile: nothing to restart", STOP, ref)
            return
        raise


# ---------------------------------------------------------------- container-pause


def apply_pause(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    ref = ContainerRef.from_json(undo.data)
    return _act(PAUSE, request, undo, f"paused {ref}", docker_target.pause)


def revert_pause(undo: Undo, host: HostContext) -> None:
    """Unpause the container if it is paused; anything else is left as it is."""
    ref = ContainerRef.from_json(undo.data)
    current = docker_target.state(ref)
    if current is ContainerState.GONE:
        log.info("%s: %s was removed meanwhile: nothing to unpause", PAUSE, ref)
    elif current is ContainerState.PAUSED:
        docker_target.unpause(ref)


KILL_FAULT = FaultType(
    name=KILL,
    summary="Send a signal (default KILL) to each selected Docker container.",
    params=KillParams,
    prepare=_prepare_for(KILL),
    apply=apply_kill,
    revert=nothing_to_revert,
    reversible=False,
    target_kinds=CONTAINERS,
    where=Where.RUNTIME,
)

STOP_FAULT = FaultType(
    name=STOP,
    summary="Stop each selected Docker container (SIGTERM, SIGKILL after timeout); "
    "revert starts it again.",
    params=StopParams,
    prepare=_prepare_for(STOP),
    apply=apply_stop,
    revert=revert_stop,
    target_kinds=CONTAINERS,
    where=Where.RUNTIME,
)

PAUSE_FAULT = FaultType(
    name=PAUSE,
    summary="Freeze every process of each selected Docker container; revert unpauses it.",
    params=PauseParams,
    prepare=_prepare_for(PAUSE),
    apply=apply_pause,
    revert=revert_pause,
    target_kinds=CONTAINERS,
    where=Where.RUNTIME,
)
