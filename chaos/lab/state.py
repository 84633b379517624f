"""``state.json``: what a running lab records about itself, and reading it back.

The supervisor writes it (atomically) once every service is healthy and again on each
restart; ``chaos.lab.manage`` reads it and adds live health per service and agent and
live toxics per link, giving a :class:`LabState`.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaos.errors import HostError
from chaos.host import proxyctl
from chaos.host.proxyctl import LinkInfo

STATE_FILE = "state.json"
LOG_FILE = "supervisor.log"


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


def is_healthy(base_url: str, *, timeout: float = 0.5, path: str = "/health") -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}{path}", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def agent_is_healthy(agent_url: str, *, timeout: float = 0.5) -> bool:
    """``GET <agent>/healthz`` answers 200 "ok"."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{agent_url}/healthz", timeout=timeout) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """tmp + rename: a reader sees the old state or the new one, never half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def read_state(home: Path) -> dict[str, Any] | None:
    """The raw state file of the lab in ``home``; None if absent or unreadable."""
    try:
        raw = json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


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


def build_state(raw: dict[str, Any], *, home: Path) -> LabState:
    """The raw state file plus live health (services, agents, proxy) and live toxics."""
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
