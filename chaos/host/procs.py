"""Helper processes a fault starts (delay proxy, stress workers), tagged so we find them again.

Each one carries ``CHAOS_FAULT_ID=<fault id>`` in its environment, so after an agent
crash or restart ``find_tagged`` rediscovers them from /proc alone, and ``stop_tagged``
can never signal a process that does not carry the tag. There is no registry of
Popen objects: a daemon thread per spawned child waits on it, so children never
linger as zombies while the agent lives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from chaos.errors import HostError
from chaos.host import procfs
from chaos.host.delayproxy import proxy_argv
from chaos.host.run import NetnsRef, in_netns

TAG = "CHAOS_FAULT_ID"
POLL_S = 0.02


def spawn_tagged(
    argv: Sequence[str],
    *,
    fault_id: str,
    env_extra: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> int:
    """Start ``argv`` in its own session, tagged with ``fault_id``; return its PID.

    A new session keeps terminal signals (Ctrl-C on the agent) from reaching it: the
    agent's revert path decides when it stops, not the shell.
    """
    if not fault_id:
        raise ValueError("a tagged process needs a non-empty fault id")
    env = {**os.environ, **(env_extra or {}), TAG: fault_id}
    sink = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise HostError(f"could not start {' '.join(argv)}: {exc}") from exc
    finally:
        if log_path:
            sink.close()  # type: ignore[union-attr]
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def spawn_detached(argv: Sequence[str]) -> int:
    """Start a process meant to outlive us (the agent's watchdog); return its PID.

    Its own session keeps a SIGKILL of our process group (or a terminal's Ctrl-C) from
    reaching it; it carries no fault tag (never stopped as a fault's helper); its
    stdio is /dev/null, never our stdout/stderr (whoever reads those would otherwise
    wait for it to exit): it writes its own log.
    """
    env = {k: v for k, v in os.environ.items() if k != TAG}
    try:
        proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise HostError(f"could not start {' '.join(argv)}: {exc}") from exc
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def find_tagged(fault_id: str) -> list[int]:
    """Live processes (never ourselves) whose environment carries ``fault_id``'s tag."""
    me = os.getpid()
    found = []
    for pid in procfs.list_pids():
        if pid == me:
            continue
        env = procfs.read_environ(pid)
        if env is not None and env.get(TAG) == fault_id and not procfs.has_exited(pid):
            found.append(pid)
    return found


def _signal_all(processes: Sequence[procfs.ProcessIdentity], signum: signal.Signals) -> None:
    for process in processes:
        # already gone (or its PID reused): nothing of ours to stop
        with contextlib.suppress(HostError):
            procfs.send_signal(process, signum)


def _wait_gone(processes: Sequence[procfs.ProcessIdentity], timeout: float) -> list:
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if procfs.is_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_S)
        alive = [p for p in alive if procfs.is_alive(p)]
    return alive


def stop_tagged(fault_id: str, *, timeout: float = 3) -> int:
    """SIGTERM every process tagged ``fault_id``, SIGKILL what outlives ``timeout``.

    Returns how many tagged processes were found; 0 when none (already stopped) is fine.
    """
    identities = [i for i in map(procfs.identity, find_tagged(fault_id)) if i is not None]
    _signal_all(identities, signal.SIGTERM)
    stubborn = _wait_gone(identities, timeout)
    _signal_all(stubborn, signal.SIGKILL)
    if _wait_gone(stubborn, 2.0):
        raise HostError(f"tagged processes of fault {fault_id} survived SIGKILL: {stubborn}")
    return len(identities)


def _same_netns(pid: int, netns_pid: NetnsRef) -> bool:
    if isinstance(netns_pid, str):  # a namespace file: compare inodes
        try:
            ours, theirs = os.stat(f"/proc/{pid}/ns/net"), os.stat(netns_pid)
        except OSError:
            return False
        return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)
    other = "self" if netns_pid is None else str(netns_pid)
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/{other}/ns/net")
    except OSError:
        return False


def start_delay_proxy(
    *,
    fault_id: str,
    netns_pid: NetnsRef,
    delay_ms: float,
    jitter_ms: float,
    mark: int,
    ttl_s: float,
    port: int = 0,
    log_path: Path | None = None,
    ready_timeout_s: float = 5,
) -> tuple[int, int]:
    """Start (or find, if already running) the fault's delay proxy; return (pid, port)
    once it listens.

    With ``port`` 0 the kernel picks a port that is free in the target's namespace at
    the moment the proxy binds it, so the proxy never races the target's own
    connections for a port (a fixed port from the ephemeral range once lost that race
    to an outgoing connection of the service under test).
    """
    running = find_tagged(fault_id)
    with _start_log(log_path) as log:
        if running:
            pid = running[0]
        else:
            argv = proxy_argv(
                port=port, delay_ms=delay_ms, jitter_ms=jitter_ms, mark=mark, ttl_s=ttl_s
            )
            pid = spawn_tagged(in_netns(netns_pid, argv), fault_id=fault_id, log_path=log)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if _same_netns(pid, netns_pid):
                ports = procfs.listening_tcp_ports(pid)
                if ports and (port == 0 or port in ports):
                    return pid, (port or ports[0])
            if not procfs.pid_alive(pid) or procfs.has_exited(pid):
                raise HostError(
                    f"delay proxy for fault {fault_id} exited at start: {_last_line(log)}"
                )
            time.sleep(POLL_S)
    stop_tagged(fault_id)
    where = f"on {port}" if port else "on any port"
    raise HostError(f"delay proxy for fault {fault_id} did not listen {where} in time")


@contextlib.contextmanager
def _start_log(log_path: Path | None) -> Iterator[Path]:
    """Where a helper's output goes while it starts: ``log_path``, or a temporary file
    (unlinked afterwards; a running helper keeps writing to its open descriptor) so
    that a helper that dies at once can say why."""
    if log_path is not None:
        yield log_path
        return
    fd, name = tempfile.mkstemp(prefix="chaos-helper-", suffix=".log")
    os.close(fd)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else "it printed nothing"
