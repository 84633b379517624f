"""Reading processes from /proc and signalling them safely.

A process is identified by its PID *and* its start time (field 22 of
``/proc/<pid>/stat``), so a PID that was reused by an unrelated process after
the target died is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import HostError

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: int  # clock ticks since boot; survives nothing but this exact process


def list_pids() -> list[int]:
    return sorted(int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit())


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks, or None if it is gone or unreadable."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def identity(pid: int) -> ProcessIdentity | None:
    started = start_time(pid)
    return ProcessIdentity(pid, started) if started is not None else None


def read_environ(pid: int) -> dict[str, str] | None:
    """The environment ``pid`` was started with; None when gone or not ours to read."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def read_cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(process: ProcessIdentity) -> bool:
    """True while the very process (same PID and start time) exists and is not a zombie."""
    if start_time(process.pid) != process.start_time:
        return False
    try:
        state = (PROC / str(process.pid) / "stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[0] != "Z"


def send_signal(process: ProcessIdentity, signum: signal.Signals) -> None:
    """Signal exactly ``process``; raise HostError if it is gone or was replaced."""
    if not is_alive(process):
        raise HostError(f"process {process.pid} is gone (or its PID was reused)")
    try:
        os.kill(process.pid, signum)
    except ProcessLookupError as exc:
        raise HostError(f"process {process.pid} exited before {signum.name}") from exc
    except PermissionError as exc:
        raise HostError(f"not allowed to send {signum.name} to process {process.pid}") from exc


def has_exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (dead, waiting to be reaped by its parent)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X")


def pid_alive(pid: int) -> bool:
    """Whether any process has this PID (for stale-run detection, not for signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mem_available_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo: what the node can still give without swapping."""
    try:
        text = (PROC / "meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def recorded_alive(pid: int, start_time: int | None) -> bool:
    """Whether the process recorded as (pid, start time) still runs: a recycled PID does
    not count; without a recorded start time, any process with the PID does."""
    if start_time is None:
        return pid_alive(pid)
    return is_alive(ProcessIdentity(pid, start_time))


_TCP_LISTEN = "0A"  # the state column of /proc/net/tcp


def listening_tcp_ports(pid: int) -> list[int]:
    """IPv4 TCP ports ``pid`` itself listens on, in its own network namespace.

    A socket counts only when one of ``pid``'s file descriptors holds it (matched by
    inode), so another process's listener on the same namespace is never mistaken for
    ``pid``'s. Empty when the process is gone or holds no listener.
    """
    base = PROC / str(pid)
    inodes = set()
    try:
        for fd in (base / "fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:[") : -1])
        table = (base / "net" / "tcp").read_text()
    except OSError:
        return []
    ports = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == _TCP_LISTEN and fields[9] in inodes:
            ports.append(int(fields[1].rpartition(":")[2], 16))
    return sorted(set(ports))


# ------------------------------------------------------------ what a process is, for the guards

PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state is index 0)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields and len(fields) > 1 else None


def is_kernel_thread(pid: int) -> bool:
    """A kernel thread (kthreadd and its children): PF_KTHREAD in the stat flags.

    kthreadd (PID 2) and its children are also the only tasks with PPid 0 or 2 and no
    ``exe``; the flag is the kernel's own answer, so it is the one checked.
    """
    fields = _stat_fields(pid)
    if not fields or len(fields) < 7:
        return False
    return bool(int(fields[6]) & PF_KTHREAD)


def ancestors(pid: int, *, limit: int = 4096) -> list[int]:
    """``pid``'s parent, its parent, ... up to (not including) PID 0; bounded by ``limit``."""
    found: list[int] = []
    current = parent_pid(pid)
    while current and current not in found and len(found) < limit:
        found.append(current)
        current = parent_pid(current)
    return found


def namespace_pids(pid: int) -> list[int]:
    """``NSpid`` of ``pid``: its PID in each nested PID namespace, outermost first.

    The last entry is its PID in its own namespace; 1 means it is that namespace's init.
    Empty when the process is gone.
    """
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return []
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return [int(part) for part in line.split()[1:]]
    return [pid]  # kernels before 4.1 have no NSpid: no nesting to report


def executable_name(pid: int) -> str | None:
    """Base name of ``/proc/<pid>/exe`` (``(deleted)`` removed), else of ``comm``; None if gone."""
    try:
        target = os.readlink(PROC / str(pid) / "exe")
    except OSError:
        try:
            return (PROC / str(pid) / "comm").read_text().strip() or None
        except OSError:
            return None
    return os.path.basename(target.removesuffix(" (deleted)"))


def cgroup_paths(pid: int) -> list[str]:
    """The cgroup path of ``pid`` in every hierarchy (one for cgroup v2); empty when gone."""
    try:
        text = (PROC / str(pid) / "cgroup").read_text()
    except OSError:
        return []
    return [line.split(":", 2)[2] for line in text.splitlines() if line.count(":") >= 2]
