"""Start, stop and inspect a lab; the functions behind ``chaos lab up|down|status``.

A lab lives in ``<chaos_home>/labs/<lab_id>/``: ``state.json`` (written by the
supervisor once every service is healthy), ``supervisor.log`` and one log per service;
a netns lab adds ``agent.token`` and ``nodes/<node>/{disk,journal}``.
Nothing here prints; errors are ``LabError`` with the last lines of the log attached.
The state file's model and reading are in ``chaos.lab.state`` (re-exported here).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import chaos
from chaos.errors import LabError
from chaos.host import procfs
from chaos.lab.state import (
    LOG_FILE,
    STATE_FILE,
    Isolation,
    LabState,
    NodeState,
    ServiceState,
    agent_is_healthy,
    build_state,
    read_state,
)

__all__ = [
    "Isolation",
    "LabState",
    "NodeState",
    "ServiceState",
    "agent_is_healthy",
    "is_lab_supervisor",
    "lab_down",
    "lab_home",
    "lab_status",
    "lab_up",
    "supervisor_argv",
]

_LAB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SUPERVISOR_MODULE = "chaos.lab.supervisor"


def lab_home(chaos_home: Path, lab_id: str) -> Path:
    if not _LAB_ID.match(lab_id):
        raise LabError(f"invalid lab id {lab_id!r}: use letters, digits, '.', '_' or '-'")
    return chaos_home / "labs" / lab_id


def is_lab_supervisor(pid: int, *, lab_id: str) -> bool:
    """True only for a live process whose command line is our supervisor for this lab.
    A recycled pid or a zombie (empty cmdline) never matches, so we never signal it."""
    args = procfs.read_cmdline(pid)
    return _SUPERVISOR_MODULE in args and "--lab-id" in args and lab_id in args


def _live_state(home: Path, *, lab_id: str, remove_stale: bool) -> dict[str, Any] | None:
    """The state of a running lab, or None; a stale file (dead supervisor) may be removed."""
    raw = read_state(home)
    if raw is None:
        return None
    if is_lab_supervisor(int(raw.get("supervisor_pid", 0)), lab_id=lab_id):
        return raw
    if remove_stale:
        _stop_orphans(raw, lab_id=lab_id)
        (home / STATE_FILE).unlink(missing_ok=True)
    return None


def _stop_orphans(raw: dict[str, Any], *, lab_id: str) -> None:
    """The supervisor died without cleaning up (SIGKILL): end the services it left behind.

    Only processes whose own environment says they belong to this lab are signalled,
    so a recycled PID is never touched."""
    for service in raw.get("services", []):
        pid = int(service.get("pid", 0))
        env = procfs.read_environ(pid) if pid > 0 else None
        if env and env.get("CHAOS_LAB_ID") == lab_id:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _log_tail(home: Path, *, lines: int = 15) -> str:
    try:
        text = (home / LOG_FILE).read_text(errors="replace")
    except OSError:
        return "(no supervisor log)"
    return "\n".join(text.splitlines()[-lines:])


def supervisor_argv(
    *,
    lab_id: str,
    home: Path,
    variant: str,
    base_port: int,
    restart_delay_s: float,
    isolation: Isolation = Isolation.PROCESS,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        _SUPERVISOR_MODULE,
        *("--lab-id", lab_id, "--state-dir", str(home), "--variant", variant),
        *("--base-port", str(base_port), "--restart-delay", str(restart_delay_s)),
        *("--isolation", isolation.value),
    ]


def _remove_netns_leftovers(home: Path, *, lab_id: str) -> None:
    """A netns lab's namespaces, veths, bridge, disks and processes, found by name: they
    survive a SIGKILLed supervisor. Nothing to do for a process lab (no traces)."""
    from chaos.lab import netns_supervisor

    if not netns_supervisor.leaves_traces(home):
        return
    if os.geteuid() != 0:
        raise LabError(f"lab {lab_id!r} left network namespaces behind: run as root to remove")
    if errors := netns_supervisor.destroy_lab(lab_id=lab_id, home=home):
        raise LabError(f"lab {lab_id!r} could not be fully removed:\n" + "\n".join(errors))


def _child_env() -> dict[str, str]:
    """Make ``python -m chaos...`` importable in the children even when not installed."""
    package_root = str(Path(chaos.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return os.environ | {
        "PYTHONPATH": f"{package_root}{os.pathsep}{path}" if path else package_root
    }


def _checked_isolation(*, variant: str, isolation: Isolation | str) -> Isolation:
    if variant not in ("fragile", "resilient"):
        raise LabError(f"unknown lab variant {variant!r}: use 'fragile' or 'resilient'")
    try:
        isolation = Isolation(isolation)
    except ValueError:
        raise LabError(f"unknown isolation {isolation!r}: use 'process' or 'netns'") from None
    if isolation is Isolation.NETNS and os.geteuid() != 0:
        raise LabError("a netns lab needs root (network namespaces, bridge, tmpfs mounts)")
    return isolation


def _start_supervisor(argv: list[str], *, home: Path) -> subprocess.Popen[bytes]:
    with open(home / LOG_FILE, "ab") as log:
        # A new session: the lab outlives this command and its terminal's Ctrl-C.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_child_env(),
        )


def lab_up(
    *,
    chaos_home: Path,
    lab_id: str = "default",
    variant: str = "resilient",
    base_port: int = 18080,
    restart_delay_s: float = 2.0,
    timeout_s: float = 15.0,
    isolation: Isolation | str = Isolation.PROCESS,
) -> LabState:
    """Start a lab in the background and return once every service answers /health.

    ``isolation="netns"`` (root only) puts each node in its own network namespace with
    its own agent and tmpfs disk; ``base_port`` is then unused (every node uses 8080)."""
    isolation = _checked_isolation(variant=variant, isolation=isolation)
    home = lab_home(chaos_home, lab_id)
    home.mkdir(parents=True, exist_ok=True)
    if (running := _live_state(home, lab_id=lab_id, remove_stale=True)) is not None:
        raise LabError(
            f"lab {lab_id!r} is already running (supervisor pid {running['supervisor_pid']})"
        )
    _remove_netns_leftovers(home, lab_id=lab_id)
    argv = supervisor_argv(
        lab_id=lab_id,
        home=home,
        variant=variant,
        base_port=base_port,
        restart_delay_s=restart_delay_s,
        isolation=isolation,
    )
    process = _start_supervisor(argv, home=home)
    try:
        return _wait_until_up(process, home=home, lab_id=lab_id, timeout_s=timeout_s)
    except LabError:
        _stop_started(process)
        (home / STATE_FILE).unlink(missing_ok=True)
        _remove_netns_leftovers(home, lab_id=lab_id)
        raise


def _wait_until_up(
    process: subprocess.Popen[bytes], *, home: Path, lab_id: str, timeout_s: float
) -> LabState:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := process.poll()) is not None:
            raise LabError(f"lab {lab_id!r} supervisor exited with code {code}:\n{_log_tail(home)}")
        raw = read_state(home)
        if raw is not None and raw.get("supervisor_pid") == process.pid:
            state = build_state(raw, home=home)
            if state.healthy and state.agents_healthy:  # a lab without its agents is not up
                return state
        time.sleep(0.1)
    raise LabError(f"lab {lab_id!r} not healthy after {timeout_s}s:\n{_log_tail(home)}")


def _stop_started(process: subprocess.Popen[bytes]) -> None:
    """Stop a supervisor we just started: SIGTERM, then SIGKILL its whole session (it is
    the session leader we created, so the group holds only the lab's processes)."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def lab_down(*, chaos_home: Path, lab_id: str = "default", timeout_s: float = 10.0) -> bool:
    """Stop a running lab; False if it was not running. Either way, what a dead lab left
    (stale state file, orphaned services, a netns lab's network and disks) is removed."""
    home = lab_home(chaos_home, lab_id)
    raw = _live_state(home, lab_id=lab_id, remove_stale=True)
    if raw is None:
        _remove_netns_leftovers(home, lab_id=lab_id)
        return False
    pid = int(raw["supervisor_pid"])
    with contextlib.suppress(ProcessLookupError):  # it may have exited on its own just now
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while is_lab_supervisor(pid, lab_id=lab_id):
        if time.monotonic() > deadline:
            # Still our supervisor (checked just now) and its own session leader: end the group.
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    (home / STATE_FILE).unlink(missing_ok=True)
    _remove_netns_leftovers(home, lab_id=lab_id)
    return True


def lab_status(*, chaos_home: Path, lab_id: str = "default") -> LabState | None:
    """The running lab with live health per service (and per agent in a netns lab) and
    live toxics per link (process lab), or None."""
    home = lab_home(chaos_home, lab_id)
    raw = _live_state(home, lab_id=lab_id, remove_stale=False)
    return None if raw is None else build_state(raw, home=home)
