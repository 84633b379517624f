"""cpu-stress and memory-stress: bounded worker processes, in the target's cgroups.

The workers are processes tagged with the fault id (so the revert finds exactly
them), join the target's cpu/memory cgroups before they start working where
those are writable (so the load is accounted to the target, as in a pod), and
exit by themselves after a bound even if nobody reverts them.
"""

from __future__ import annotations

from pydantic import Field

from chaos.errors import FaultError, HostError, RevertError
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams
from chaos.spec.sizes import Size

WORKER_TTL_S = 3600.0  # the workers' own bound; the agent's lease reverts much sooner
MEMORY_HEADROOM = 0.9  # never ask for more than 90 % of what the node has available


class CpuParams(FaultParams):
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes.")
    load: float = Field(default=100.0, gt=0, le=100, description="% of one core per worker.")


class MemoryParams(FaultParams):
    size: Size = Field(gt=0, description="Memory to allocate and touch, e.g. 256MiB.")


def _prepare(name: str, request: FaultRequest, host: HostContext) -> Undo:
    return Undo(fault=name, data={"tag": request.fault_id}, backend="processes")


def prepare_memory(request: FaultRequest, host: HostContext) -> Undo:
    assert isinstance(request.params, MemoryParams)
    from chaos.host import procfs

    available = procfs.mem_available_bytes()
    if available is not None and request.params.size > available * MEMORY_HEADROOM:
        raise FaultError(
            f"memory-stress: {request.params.size >> 20} MiB is more than 90% of the "
            f"{available >> 20} MiB available on node {host.node}",
            node=host.node,
        )
    return _prepare("memory-stress", request, host)


def _spawn(
    name: str,
    argv: list[str],
    *,
    request: FaultRequest,
    undo: Undo,
    host: HostContext,
    detail: str,
) -> Undo:
    from chaos.host import procs

    try:
        pid = procs.spawn_tagged(argv, fault_id=request.fault_id)
    except HostError as exc:
        raise FaultError(f"{name}: {exc.message}", node=host.node) from exc
    return Undo(name, {**undo.data, "pid": pid}, detail, undo.backend)


def apply_cpu(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.host import stress

    params = request.params
    assert isinstance(params, CpuParams)
    argv = stress.cpu_argv(
        workers=params.workers, load=params.load, ttl_s=WORKER_TTL_S, cgroup_of=request.target.pid
    )
    detail = f"{params.workers} worker(s) at {params.load:g}% of a core"
    return _spawn("cpu-stress", argv, request=request, undo=undo, host=host, detail=detail)


def apply_memory(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.host import stress

    params = request.params
    assert isinstance(params, MemoryParams)
    mib = max(1, params.size >> 20)
    argv = stress.memory_argv(mib=mib, ttl_s=WORKER_TTL_S, cgroup_of=request.target.pid)
    return _spawn(
        "memory-stress", argv, request=request, undo=undo, host=host, detail=f"holding {mib} MiB"
    )


def revert(undo: Undo, host: HostContext) -> None:
    from chaos.host import procs

    try:
        procs.stop_tagged(undo.data["tag"])
    except HostError as exc:
        raise RevertError(f"{undo.fault}: {exc.message}", node=host.node) from exc


CPU_FAULT = FaultType(
    name="cpu-stress",
    summary="Burn CPU with bounded workers in the target's cgroup.",
    params=CpuParams,
    prepare=lambda request, host: _prepare("cpu-stress", request, host),
    apply=apply_cpu,
    revert=revert,
)

MEMORY_FAULT = FaultType(
    name="memory-stress",
    summary="Hold memory with a bounded worker in the target's cgroup.",
    params=MemoryParams,
    prepare=prepare_memory,
    apply=apply_memory,
    revert=revert,
)
