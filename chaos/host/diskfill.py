"""Fill a filesystem to a given percentage with one file of ours, and remove it again.

The target is seen through ``root`` (``/proc/<pid>/root`` for a container, ``/`` for
the agent's own host), so the same code fills a container's volume without entering
its mount namespace. Filling the root filesystem can take a node down, so it is
refused unless explicitly allowed. The fill file is named after the fault
(``.chaos-fill-<fault id>``) so a restarted agent knows which file is its own, and
re-applying rewrites that file to the planned size instead of adding a second one.
"""

from __future__ import annotations

import errno
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import HostError

FILL_PREFIX = ".chaos-fill-"
ZERO_CHUNK = 4 * 1024 * 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_NO_FALLOCATE = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


@dataclass(frozen=True)
class FillPlan:
    """How much to write where; ``note`` says in words what will happen and why."""

    fill_path: Path
    size_bytes: int
    total_bytes: int  # used + available to us, as df counts it
    used_bytes: int  # excluding any earlier fill file of this fault
    target_percent: float | None
    note: str

    @property
    def percent_after(self) -> float:
        return 100.0 * (self.used_bytes + self.size_bytes) / self.total_bytes


def fill_file(*, directory: Path, fault_id: str) -> Path:
    if not _SAFE_ID.match(fault_id):
        raise ValueError(f"fault id {fault_id!r} is not usable in a file name")
    return directory / f"{FILL_PREFIX}{fault_id}"


def _allocated(path: Path) -> int:
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return 0


def _bytes_needed(
    *, used: int, avail: int, block: int, percent: float | None, size_bytes: int | None
) -> tuple[int, str]:
    """Bytes to write; for a percent, whole blocks up to it, so df (which rounds up) shows it."""
    total = used + avail
    if size_bytes is not None:
        wanted = size_bytes
    else:
        assert percent is not None
        wanted = math.floor(total * percent / 100 / block) * block - used
        if wanted <= 0:
            return 0, f"already {100 * used / total:.1f}% used (>= {percent:g}%): nothing to fill"
    if wanted > avail:
        return avail, f"only {avail} bytes free: filling the filesystem completely"
    return wanted, f"writing {wanted} bytes to reach {100 * (used + wanted) / total:.1f}% used"


def fill_plan(
    *,
    root: Path,
    path: str,
    percent: float | None,
    size_bytes: int | None,
    allow_root_fs: bool,
    fault_id: str,
) -> FillPlan:
    """Work out the fill for directory ``path`` as seen from ``root`` (nothing written)."""
    if (percent is None) == (size_bytes is None):
        raise ValueError("give exactly one of percent or size_bytes")
    if percent is not None and not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    if size_bytes is not None and size_bytes < 0:
        raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
    directory = root / path.lstrip("/")
    try:
        target_dev = os.stat(directory).st_dev
        root_dev = os.stat(root).st_dev
        vfs = os.statvfs(directory)
    except OSError as exc:
        raise HostError(f"cannot inspect {directory} for a disk fill: {exc}") from exc
    if target_dev == root_dev and not allow_root_fs:
        raise HostError(
            f"{path} is on the target's root filesystem; refusing to fill it "
            "(set allow_root_fs to do it anyway)"
        )
    target = fill_file(directory=directory, fault_id=fault_id)
    ours = _allocated(target)
    used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize - ours
    avail = vfs.f_bavail * vfs.f_frsize + ours
    size, note = _bytes_needed(
        used=used, avail=avail, block=vfs.f_frsize, percent=percent, size_bytes=size_bytes
    )
    return FillPlan(
        fill_path=target,
        size_bytes=size,
        total_bytes=used + avail,
        used_bytes=used,
        target_percent=percent,
        note=note,
    )


def _write_zeros(fd: int, size: int) -> None:
    zeros = bytes(ZERO_CHUNK)
    written = 0
    while written < size:
        written += os.write(fd, zeros[: min(ZERO_CHUNK, size - written)])


def fill(plan: FillPlan, *, fault_id: str | None = None, use_fallocate: bool = True) -> Path:
    """Write the plan's file (fallocate, else zeros), fsync it; a re-apply rewrites it."""
    if fault_id is not None and plan.fill_path.name != f"{FILL_PREFIX}{fault_id}":
        raise ValueError(f"plan {plan.fill_path} does not belong to fault {fault_id}")
    try:
        fd = os.open(plan.fill_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise HostError(f"cannot create fill file {plan.fill_path}: {exc}") from exc
    try:
        if plan.size_bytes:
            _allocate(fd, plan.size_bytes, use_fallocate=use_fallocate)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        unfill(plan.fill_path)
        raise HostError(f"filling {plan.fill_path} with {plan.size_bytes} bytes: {exc}") from exc
    os.close(fd)
    return plan.fill_path


def _allocate(fd: int, size: int, *, use_fallocate: bool) -> None:
    if use_fallocate:
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in _NO_FALLOCATE:
                raise
    _write_zeros(fd, size)


def unfill(path: Path) -> bool:
    """Remove a fill file; False when it was already gone (a second revert is fine)."""
    if not Path(path).name.startswith(FILL_PREFIX):
        raise ValueError(f"refusing to remove {path}: not a chaos fill file")
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise HostError(f"cannot remove fill file {path}: {exc}") from exc
    return True
