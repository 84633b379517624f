"""disk-fill: fill the filesystem holding a path, in the target's mount namespace.

The file ``.chaos-fill-<fault id>`` is created in that directory (seen through
``/proc/<pid>/root``, so a container's own filesystem is filled, not the
node's) and sized so the filesystem reaches ``percent`` used, or grows by
``size``. The root filesystem is refused unless ``allowRootFilesystem``.
Revert removes the file.
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
        default=False, description="Allow filling the target's root filesystem."
    )

    @model_validator(mode="after")
    def _one_amount(self) -> Params:
        if (self.percent is None) == (self.size is None):
            raise ValueError("give exactly one of percent or size")
        return self


def _root(request: FaultRequest) -> Path:
    pid = request.target.pid
    return Path(f"/proc/{pid}/root") if pid is not None else Path("/")


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
            fault_id=request.fault_id,
        )
    except (HostError, ValueError) as exc:
        message = exc.message if isinstance(exc, HostError) else str(exc)
        raise FaultError(
            f"{NAME}: {message}", target=request.target.display, node=host.node
        ) from exc
    data = {
        "file": str(plan.fill_path),
        "host_file": _host_view(root, plan.fill_path),
        "bytes": plan.size_bytes,
        "total_bytes": plan.total_bytes,
        "used_bytes": plan.used_bytes,
        "target_percent": plan.target_percent,
        "note": plan.note,
    }
    return Undo(fault=NAME, data=data, backend="file")


def _host_view(root: Path, fill_path: Path) -> str | None:
    """The same file as the agent sees it, when the target shares the agent's root: the
    revert can still find it after the target process (and its /proc entry) is gone."""
    try:
        theirs, ours = os.stat(root), os.stat("/")
    except OSError:
        return None
    if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
        return None
    return "/" + str(fill_path.relative_to(root))


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
    )
    try:
        diskfill.fill(plan, fault_id=request.fault_id)
    except (HostError, ValueError) as exc:
        message = exc.message if isinstance(exc, HostError) else str(exc)
        raise FaultError(f"{NAME}: {message}", node=host.node) from exc
    detail = f"wrote {plan.size_bytes} bytes to {request.params.path}: {plan.note}"
    return Undo(NAME, data, detail, undo.backend)


def revert(undo: Undo, host: HostContext) -> None:
    from chaos.host import diskfill

    try:
        for path in {undo.data["file"], undo.data.get("host_file")} - {None}:
            diskfill.unfill(Path(path))
    except (HostError, OSError) as exc:
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
