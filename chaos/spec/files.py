"""Read a file on a user's behalf: a regular file under a size cap, never a device or a FIFO.

Experiments, game-day plans, locustfiles and schedule files all come through
:func:`read_user_file`. Symlinks are followed (users keep experiments in linked
checkouts), but what the path finally names must be a regular file: ``/dev/zero``
would never end, a FIFO would block ``open`` until a writer came, a directory or a
socket is not text. The size is checked twice, by ``fstat`` and by reading at most
one byte past the cap, because a file can grow between the two (``/proc`` files even
say 0 bytes). A device is never even opened (see :func:`_open_regular`).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from chaos.errors import SpecError, SpecIssue
from chaos.spec.limits import MAX_FILE_BYTES, format_bytes

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse(file: str, message: str) -> SpecError:
    return SpecError([SpecIssue(file, 1, 1, "", message)])


def _kind(mode: int) -> str:
    return next((name for check, name in _KINDS if check(mode)), "not a regular file")


def read_user_file(
    path: Path | str, *, max_bytes: int = MAX_FILE_BYTES, what: str = "file"
) -> bytes:
    """The bytes of ``path``, or a ``SpecError`` located at ``path:1:1`` saying why not."""
    file = str(path)
    try:
        fd = _open_regular(file, what)
    except ValueError:  # an embedded NUL byte
        raise _refuse(file, f"cannot read {what}: the file name contains a NUL byte") from None
    except OSError as exc:
        raise _refuse(file, f"cannot read {what}: {_reason(exc)}") from None
    try:
        if os.fstat(fd).st_size > max_bytes:
            raise _refuse(file, _too_big(what, max_bytes))
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise _refuse(file, f"cannot read {what}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _refuse(file, _too_big(what, max_bytes))
    return data


def _open_regular(file: str, what: str) -> int:
    """A read descriptor of ``file``, which must be a regular file.

    The kind is checked on an ``O_PATH`` descriptor, which opens nothing: opening some
    devices acts (``/dev/watchdog`` arms the watchdog), so a device is never opened.
    The regular file is then opened through that very descriptor (``/proc/self/fd``),
    so a rename in between cannot swap in something else.
    """
    if not hasattr(os, "O_PATH"):  # not Linux: O_NONBLOCK at least keeps a FIFO from blocking
        return _checked(os.open(file, _READ_FLAGS), file, what)
    handle = _checked(os.open(file, os.O_PATH | os.O_CLOEXEC), file, what, path_only=True)
    try:
        return _checked(os.open(f"/proc/self/fd/{handle}", _READ_FLAGS), file, what)
    except FileNotFoundError:  # no /proc: the path again, still never blocking
        return _checked(os.open(file, _READ_FLAGS), file, what)
    finally:
        os.close(handle)


_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _checked(fd: int, file: str, what: str, *, path_only: bool = False) -> int:
    """``fd`` if it is a regular file (a read one now blocking), else closed and refused."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refuse(file, f"cannot read {what}: {file} is {_kind(mode)}, not a regular file")
    if not path_only:
        os.set_blocking(fd, True)
    return fd


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _too_big(what: str, max_bytes: int) -> str:
    return f"{what} is larger than the {format_bytes(max_bytes)} limit"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    return exc.strerror or type(exc).__name__
