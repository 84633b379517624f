"""disk-fill: fill the filesystem holding a path, in the target's mount namespace.

The file ``.chaos-fill-<fault id>`` is created in that directory, resolved inside
the target's own root (``/proc/<pid>/root`` with ``openat2(RESOLVE_IN_ROOT)``, see
:mod:`chaos.host.inroot`), so a container's own filesystem is filled, not the
node's, and ``..`` or a symlink planted in the container cannot lead out of it. It
is sized so the filesystem reaches ``percent`` used, or grows by ``size``. Refused
unless explicitly allowed: the target's or the host's root filesystem
(``allowRootFilesystem``) and RAM-backed filesystems such as ``/dev/shm``
(``allowRamBacked``, which an agent accepts only when its scope permits it; a lab's
tmpfs "disk" marked with ``--scope-ram-disk`` needs no opt-in). Revert removes the
file through the same resolution.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator

from chaos.errors import FaultError, HostError, RevertError
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams
from chaos.spec.sizes import Size

NAME = "disk-fill"


class Params(FaultParams):
    path: str = Field(pattern=r"^/", description="Absolute directory in the target's filesystem.")
    percent: float | None = Field(
        default=None, gt=0, le=100, description="Fill until the filesystem is this % used."
    )
    size: Size | None = Field(default=None, ge=0, description="Or write this much, e.g. 256MiB.")
    allow_root_filesystem: bool = Field(
        default=False, description="Allow filling the target's (or the host's) root filesystem."
    )
    allow_ram_backed: bool = Field(
        default=False,
        description="Allow filling a filesystem in memory (tmpfs, ramfs: /dev/shm, /run); "
        "an agent accepts it only when its scope permits it.",
    )

    @model_validator(mode="after")
    def _one_amount(self) -> Params:
        if (self.percent is None) == (self.size is None):
            raise ValueError("give exactly one of percent or size")
        return self


def _root(request: FaultRequest) -> Path:
    pid = request.target.pid
    return Path(f"/proc/{pid}/root") if pid is not None else Path("/")


def _failed(exc: Exception, request: FaultRequest, host: HostContext) -> FaultError:
    message = exc.message if isinstance(exc, HostError) else str(exc)
    return FaultError(f"{NAME}: {message}", target=request.target.display, node=host.node)


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    from chaos.host import diskfill

    assert isinstance(request.params, Params)
    params = request.params
    root = _root(request)
    try:
        plan = diskfill.fill_plan(
            root=root,
            path=params.path,
            percent=params.percent,
            size_bytes=params.size,
            allow_root_fs=params.allow_root_filesystem,
            allow_ram_backed=params.allow_ram_backed,
            ram_disks=host.ram_disks,
            fault_id=request.fault_id,
        )
    except (HostError, ValueError) as exc:
        raise _failed(exc, request, host) from exc
    data = {
        "file": str(plan.fill_path),
        "root": str(root),
        "pid": request.target.pid,
        "start_time": request.target.start_time,
        "dir": params.path,
        "name": plan.fill_path.name,
        "host_dir": params.path if _shares_our_root(root) else None,
        "device": plan.device,
        "bytes": plan.size_bytes,
        "total_bytes": plan.total_bytes,
        "used_bytes": plan.used_bytes,
        "target_percent": plan.target_percent,
        "note": plan.note,
    }
    return Undo(fault=NAME, data=data, backend="file")


def _shares_our_root(root: Path) -> bool:
    """Whether the target's root is the agent's own: the revert can then still find the
    file through ``/`` after the target process (and its /proc entry) is gone."""
    try:
        theirs, ours = os.stat(root), os.stat("/")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.host import diskfill

    assert isinstance(request.params, Params)
    data = undo.data
    plan = diskfill.FillPlan(  # exactly what prepare worked out and the journal holds
        fill_path=Path(data["file"]),
        size_bytes=data["bytes"],
        total_bytes=data["total_bytes"],
        used_bytes=data["used_bytes"],
        target_percent=data["target_percent"],
        note=data["note"],
        root=Path(data["root"]),
        directory=data["dir"],
        device=data["device"],
    )
    try:
        diskfill.fill(plan, fault_id=request.fault_id)
    except (HostError, ValueError) as exc:
        raise _failed(exc, request, host) from exc
    detail = f"wrote {plan.size_bytes} bytes to {request.params.path}: {plan.note}"
    return Undo(NAME, data, detail, undo.backend)


def revert(undo: Undo, host: HostContext) -> None:
    """Remove the file through the target's root while it is the very same process (a
    reused PID is another root), and through ``/`` when the target shared ours."""
    from chaos.host import diskfill, procfs

    data = undo.data
    if "dir" not in data:  # written by an older agent: only the path is known
        _unfill_paths(undo, host, {data["file"], data.get("host_file")} - {None})
        return
    places: list[tuple[Path, str]] = []
    pid, started = data.get("pid"), data.get("start_time")
    if pid is None:
        places.append((Path(data["root"]), data["dir"]))
    elif started is not None and procfs.is_alive(procfs.ProcessIdentity(pid, started)):
        places.append((Path(f"/proc/{pid}/root"), data["dir"]))
    if data.get("host_dir"):
        places.append((Path("/"), data["host_dir"]))
    try:
        for root, directory in places:
            diskfill.unfill_in(root=root, directory=directory, name=data["name"])
    except (HostError, OSError, ValueError) as exc:
        raise RevertError(f"{NAME}: cannot remove {data['file']}: {exc}", node=host.node) from exc


def _unfill_paths(undo: Undo, host: HostContext, paths: set[str]) -> None:
    from chaos.host import diskfill

    try:
        for path in paths:
            diskfill.unfill(Path(path))
    except (HostError, OSError, ValueError) as exc:
        raise RevertError(
            f"{NAME}: cannot remove {undo.data['file']}: {exc}", node=host.node
        ) from exc


FAULT = FaultType(
    name=NAME,
    summary="Fill the filesystem holding a path to a percentage or by a size.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
)
