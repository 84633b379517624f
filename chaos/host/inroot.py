"""Open a directory *inside* another process's root, the way that process would see it.

A path from a request (``/data``, ``../../etc``, a symlink planted in a container)
is never resolved through the agent's own filesystem. The target's root is opened
once (``/proc/<pid>/root``: the kernel hands us the directory that process calls
``/``), and the path is resolved below it with ``openat2(RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS)``: ``..`` stops at that root, absolute symlinks are taken
relative to it, and ``/proc/<pid>/root``-style magic links are refused. Everything
afterwards (stat, create, unlink) happens relative to the directory's file
descriptor, so a rename or a new symlink after the check changes nothing.

``openat2`` is Linux 5.6+; an older kernel gets a refusal, not an unsafe fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
from collections.abc import Iterator
from pathlib import Path

from chaos.errors import HostError

# syscall number of openat2 (the same on the generic syscall table and on x86_64)
SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "arm64": 437, "riscv64": 437, "ppc64le": 437}
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
# statfs(2) f_type of filesystems whose "disk" is the node's memory
RAM_BACKED = {0x01021994: "tmpfs", 0x858458F6: "ramfs", 0x958458F6: "hugetlbfs"}
MAX_PATH = 4096


class PathNotFound(HostError):
    """A component of the path does not exist inside the root."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def open_root(root: Path) -> int:
    """An ``O_PATH`` descriptor of ``root`` (e.g. ``/proc/<pid>/root``); close it after use."""
    try:
        return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise HostError(f"cannot open the root {root}: {exc.strerror}") from exc


def open_dir(root_fd: int, path: str) -> int:
    """A read-only descriptor of directory ``path`` resolved inside ``root_fd``."""
    if "\0" in path or len(path) > MAX_PATH:
        raise HostError("the path contains a NUL byte or is too long")
    number = SYS_OPENAT2.get(platform.machine())
    if number is None:
        raise HostError(f"no safe path resolution (openat2) known on {platform.machine()}")
    how = _OpenHow(
        flags=os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
        mode=0,
        resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
    relative = path.lstrip("/") or "."
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(
        ctypes.c_long(number),
        ctypes.c_int(root_fd),
        ctypes.c_char_p(os.fsencode(relative)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        if code == errno.ENOSYS:
            raise HostError("this kernel has no openat2 (Linux 5.6+): refusing to resolve paths")
        problem = PathNotFound if code == errno.ENOENT else HostError
        raise problem(f"cannot open directory {path} inside the target's root: {os.strerror(code)}")
    return int(fd)


@contextlib.contextmanager
def directory(root: Path, path: str) -> Iterator[int]:
    """``with directory(Path("/proc/42/root"), "/data") as fd:`` -- the directory's fd."""
    root_fd = open_root(root)
    try:
        fd = open_dir(root_fd, path)
    finally:
        os.close(root_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def filesystem_type(fd: int) -> int:
    """``f_type`` of the filesystem holding ``fd`` (fstatfs(2))."""
    buffer = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    libc = _libc()
    if libc.fstatfs(ctypes.c_int(fd), buffer) != 0:
        code = ctypes.get_errno()
        raise HostError(f"cannot read the filesystem type: {os.strerror(code)}")
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def ram_backed(fd: int) -> str | None:
    """ "tmpfs", "ramfs" or "hugetlbfs" when ``fd``'s filesystem lives in memory, else None."""
    return RAM_BACKED.get(filesystem_type(fd))
