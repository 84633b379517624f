"""Start, stop and inspect a lab; the functions behind ``chaos lab up|down|status``.

A lab lives in ``<chaos_home>/labs/<lab_id>/``: ``state.json`` (written by the
supervisor once every service is healthy), ``supervisor.log`` and one log per service;
a netns lab adds ``agent.token`` and ``nodes/<node>/{disk,journal}``.
Nothing here prints; errors are ``LabError`` with the last lines of the log attached.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import chaos
from chaos.errors import HostError, LabError
from chaos.host import procfs, proxyctl
from chaos.host.proxyctl import LinkInfo
from chaos.lab.supervisor import LOG_FILE, STATE_FILE, is_healthy

_LAB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SUPERVISOR_MODULE = "chaos.lab.supervisor"


class Isolation(StrEnum):
    PROCESS = "process"  # loopback processes behind the TCP proxy, no root
    NETNS = "netns"  # one network namespace per node, an agent on each (root)


@dataclass(frozen=True)
class ServiceState:
    name: str
    app: str
    replica: int
    port: int
    pid: int
    url: str
    restarts: int
    healthy: bool
    node: str | None = None  # netns labs only
    ip: str | None = None


@dataclass(frozen=True)
class NodeState:
    """A node of a netns lab: its namespace, address, agent and disk."""

    name: str
    netns: str
    ip: str
    agent_url: str
    disk: Path
    agent_pid: int
    agent_restarts: int
    agent_healthy: bool


@dataclass(frozen=True)
class LabState:
    lab_id: str
    variant: str
    supervisor_pid: int
    control_url: str | None  # the proxy control API; None in a netns lab (no proxy)
    restart_delay_s: float
    started_at: float
    home: Path
    services: tuple[ServiceState, ...]
    links: tuple[LinkInfo, ...]
    control_healthy: bool
    isolation: Isolation = Isolation.PROCESS
    subnet: str | None = None
    nodes: tuple[NodeState, ...] = ()

    @property
    def web_url(self) -> str:
        """The lab's front door: where load and probes go."""
        return next(s.url for s in self.services if s.app == "web")

    @property
    def healthy(self) -> bool:
        """Every service answers /health (and the proxy, if any). Agents are reported per
        node but not required: a lab is usable for process faults without them."""
        proxy_ok = self.control_healthy or self.isolation is Isolation.NETNS
        return proxy_ok and all(s.healthy for s in self.services)

    @property
    def agents_healthy(self) -> bool:
        return all(node.agent_healthy for node in self.nodes)


def lab_home(chaos_home: Path, lab_id: str) -> Path:
    if not _LAB_ID.match(lab_id):
        raise LabError(f"invalid lab id {lab_id!r}: use letters, digits, '.', '_' or '-'")
    return chaos_home / "labs" / lab_id


def is_lab_supervisor(pid: int, *, lab_id: str) -> bool:
    """True only for a live process whose command line is our supervisor for this lab.
    A recycled pid or a zombie (empty cmdline) never matches, so we never signal it."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv]
    return _SUPERVISOR_MODULE in args and "--lab-id" in args and lab_id in args


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _live_state(home: Path, *, lab_id: str, remove_stale: bool) -> dict[str, Any] | None:
    """The state of a running lab, or None; a stale file (dead supervisor) may be removed."""
    raw = _read_state(home)
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


def _links(raw: dict[str, Any]) -> tuple[tuple[LinkInfo, ...], bool]:
    """The proxy links with their live toxics, and whether the proxy answered."""
    try:
        listed = proxyctl.list_links(raw["control_url"], timeout=1.0)
        live, control_healthy = {link.name: link.toxics for link in listed}, True
    except HostError:
        live, control_healthy = {}, False
    links = tuple(
        LinkInfo(**{**link, "toxics": tuple(live.get(link["name"], ()))}) for link in raw["links"]
    )
    return links, control_healthy


def _nodes(raw: dict[str, Any]) -> tuple[NodeState, ...]:
    return tuple(
        NodeState(
            name=node["name"],
            netns=node["netns"],
            ip=node["ip"],
            agent_url=node["agent_url"],
            disk=Path(node["disk"]),
            agent_pid=int(node.get("agent_pid", 0)),
            agent_restarts=int(node.get("agent_restarts", 0)),
            agent_healthy=agent_is_healthy(node["agent_url"]),
        )
        for node in raw.get("nodes", [])
    )


def agent_is_healthy(agent_url: str, *, timeout: float = 0.5) -> bool:
    """``GET <agent>/healthz`` answers 200 "ok"."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{agent_url}/healthz", timeout=timeout) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


def _build_state(raw: dict[str, Any], *, home: Path) -> LabState:
    isolation = Isolation(raw.get("isolation", Isolation.PROCESS))
    if isolation is Isolation.PROCESS:
        links, control_healthy = _links(raw)
    else:
        links, control_healthy = (), False
    services = tuple(
        ServiceState(**service, healthy=is_healthy(service["url"])) for service in raw["services"]
    )
    fields = ("lab_id", "variant", "supervisor_pid", "restart_delay_s", "started_at")
    return LabState(
        **{key: raw[key] for key in fields},
        control_url=raw.get("control_url"),
        home=home,
        services=services,
        links=links,
        control_healthy=control_healthy,
        isolation=isolation,
        subnet=raw.get("subnet"),
        nodes=_nodes(raw),
    )


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
    if variant not in ("fragile", "resilient"):
        raise LabError(f"unknown lab variant {variant!r}: use 'fragile' or 'resilient'")
    try:
        isolation = Isolation(isolation)
    except ValueError:
        raise LabError(f"unknown isolation {isolation!r}: use 'process' or 'netns'") from None
    if isolation is Isolation.NETNS and os.geteuid() != 0:
        raise LabError("a netns lab needs root (network namespaces, bridge, tmpfs mounts)")
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
    with open(home / LOG_FILE, "ab") as log:
        # A new session: the lab outlives this command and its terminal's Ctrl-C.
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_child_env(),
        )
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
        raw = _read_state(home)
        if raw is not None and raw.get("supervisor_pid") == process.pid:
            state = _build_state(raw, home=home)
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
    return None if raw is None else _build_state(raw, home=home)
