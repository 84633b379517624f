"""Fill a filesystem to a given percentage with one file of ours, and remove it again.

The target is seen through ``root`` (``/proc/<pid>/root`` for a container, ``/`` for
the agent's own host), and the directory is resolved *inside* that root
(:mod:`chaos.host.inroot`): ``..``, absolute symlinks and magic links cannot leave it,
and the file is created and removed relative to the directory's descriptor.
Refused unless explicitly allowed: the target's root filesystem and the host's
(compared by device), since filling them can take a node down; and filesystems
that live in memory (tmpfs, ramfs: ``/dev/shm``, ``/run``), since filling those
takes the node's RAM. The fill file is named after the fault (``.chaos-fill-<fault
id>``) so a restarted agent knows which file is its own; re-applying replaces that
file with one of the planned size instead of adding a second one.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import HostError
from chaos.host import inroot

FILL_PREFIX = ".chaos-fill-"
ZERO_CHUNK = 4 * 1024 * 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_NO_FALLOCATE = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
HOST_ROOT = Path("/proc/1/root")  # the host's root as PID 1 sees it (also from a container)


@dataclass(frozen=True)
class FillPlan:
    """How much to write where; ``note`` says in words what will happen and why."""

    fill_path: Path  # as the agent would see it: for messages only, never opened
    size_bytes: int
    total_bytes: int  # used + available to us, as df counts it
    used_bytes: int  # excluding any earlier fill file of this fault
    target_percent: float | None
    note: str
    root: Path = Path("/")  # the target's root; ``directory`` is resolved inside it
    directory: str = "/"
    device: int = 0  # st_dev of the directory when planned: fill refuses another

    @property
    def percent_after(self) -> float:
        return 100.0 * (self.used_bytes + self.size_bytes) / self.total_bytes


def fill_file(*, directory: Path, fault_id: str) -> Path:
    if not _SAFE_ID.match(fault_id):
        raise ValueError(f"fault id {fault_id!r} is not usable in a file name")
    return directory / f"{FILL_PREFIX}{fault_id}"


def _allocated(dir_fd: int, name: str) -> int:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_blocks * 512
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
    allow_ram_backed: bool = False,
    ram_disks: Iterable[str] = (),
    host_root: Path = HOST_ROOT,
) -> FillPlan:
    """Work out the fill for directory ``path`` inside ``root`` (nothing written)."""
    if (percent is None) == (size_bytes is None):
        raise ValueError("give exactly one of percent or size_bytes")
    if percent is not None and not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    if size_bytes is not None and size_bytes < 0:
        raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
    name = fill_file(directory=Path("/"), fault_id=fault_id).name
    root_fd = inroot.open_root(root)
    try:
        dir_fd = inroot.open_dir(root_fd, path)
        try:
            device = os.fstat(dir_fd).st_dev
            _refuse_unsafe_filesystem(
                path=path,
                dir_fd=dir_fd,
                roots={"target's": os.fstat(root_fd).st_dev, "host's": _device(host_root)},
                allow_root_fs=allow_root_fs,
                allow_ram_backed=allow_ram_backed or device in _devices(ram_disks),
            )
            vfs = os.fstatvfs(dir_fd)
            ours = _allocated(dir_fd, name)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise HostError(f"cannot inspect {path} for a disk fill: {exc.strerror}") from exc
    finally:
        os.close(root_fd)
    used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize - ours
    avail = vfs.f_bavail * vfs.f_frsize + ours
    size, note = _bytes_needed(
        used=used, avail=avail, block=vfs.f_frsize, percent=percent, size_bytes=size_bytes
    )
    return FillPlan(
        fill_path=root / path.lstrip("/") / name,
        size_bytes=size,
        total_bytes=used + avail,
        used_bytes=used,
        target_percent=percent,
        note=note,
        root=root,
        directory=path,
        device=device,
    )


def _device(path: Path) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:  # no /proc/1/root to read (a sandbox): "/" is the best we know
        return os.stat("/").st_dev


def _devices(paths: Iterable[str]) -> set[int]:
    found = set()
    for path in paths:
        try:
            found.add(os.stat(path).st_dev)
        except OSError:
            continue  # a RAM disk that is not mounted (yet) marks nothing
    return found


def _refuse_unsafe_filesystem(
    *,
    path: str,
    dir_fd: int,
    roots: dict[str, int | None],
    allow_root_fs: bool,
    allow_ram_backed: bool,
) -> None:
    device = os.fstat(dir_fd).st_dev
    for whose, root_device in roots.items():
        if device == root_device and not allow_root_fs:
            raise HostError(
                f"{path} is on the {whose} root filesystem; refusing to fill it "
                "(set allowRootFilesystem to do it anyway)"
            )
    kind = inroot.ram_backed(dir_fd)
    if kind is not None and not allow_ram_backed:
        raise HostError(
            f"{path} is on a {kind}, which lives in the node's memory; refusing to fill it "
            "(set allowRamBacked, if the agent's scope permits it)"
        )


def _write_zeros(fd: int, size: int) -> None:
    zeros = bytes(ZERO_CHUNK)
    written = 0
    while written < size:
        written += os.write(fd, zeros[: min(ZERO_CHUNK, size - written)])


def fill(plan: FillPlan, *, fault_id: str | None = None, use_fallocate: bool = True) -> Path:
    """Write the plan's file (fallocate, else zeros), fsync it; a re-apply replaces it.

    The directory is resolved again inside the plan's root and must still be the
    filesystem that was planned. Whatever has the file's name is removed first and
    the file is created new (``O_EXCL``): a symlink or a hard link planted under that
    name never makes us write through it.
    """
    name = plan.fill_path.name
    if fault_id is not None and name != f"{FILL_PREFIX}{fault_id}":
        raise ValueError(f"plan {plan.fill_path} does not belong to fault {fault_id}")
    with inroot.directory(plan.root, plan.directory) as dir_fd:
        if plan.device and os.fstat(dir_fd).st_dev != plan.device:
            raise HostError(f"{plan.directory} is on another filesystem than when it was planned")
        _remove(dir_fd, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        except OSError as exc:
            raise HostError(f"cannot create fill file {plan.fill_path}: {exc.strerror}") from exc
        try:
            if plan.size_bytes:
                _allocate(fd, plan.size_bytes, use_fallocate=use_fallocate)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            _remove(dir_fd, name)
            raise HostError(
                f"filling {plan.fill_path} with {plan.size_bytes} bytes: {exc.strerror}"
            ) from exc
        os.close(fd)
    return plan.fill_path


def _remove(dir_fd: int, name: str) -> bool:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            raise HostError(f"{name} is a directory, not a fill file: left alone")
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise HostError(f"cannot remove fill file {name}: {exc.strerror}") from exc
    return True


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
    """Remove a fill file named by its path as this process sees it; False when it was
    already gone (a second revert is fine)."""
    path = Path(path)
    return unfill_in(root=Path("/"), directory=str(path.parent), name=path.name)


def unfill_in(*, root: Path, directory: str, name: str) -> bool:
    """Remove fill file ``name`` from ``directory`` resolved inside ``root``; False when the
    file (or its directory) is already gone."""
    if not name.startswith(FILL_PREFIX) or "/" in name:
        raise ValueError(f"refusing to remove {name}: not a chaos fill file")
    try:
        with inroot.directory(root, directory) as dir_fd:
            return _remove(dir_fd, name)
    except inroot.PathNotFound:
        return False  # the directory is gone, and our file with it
    except HostError:
        if not os.path.lexists(root):
            return False  # the target (and its root) is gone: nothing of ours is left to see
        raise
