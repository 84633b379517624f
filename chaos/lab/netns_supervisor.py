"""The netns lab: each node (web, api-N, store) is its own network namespace.

Nodes sit on one bridge (``chb-<short>``, the /24's .1) and their services listen on
``<node ip>:8080`` and call each other directly over it: no proxy, network faults are
applied inside a node's namespace by that node's agent (``chaos agent serve`` on
``<node ip>:7070``). Each node has a 64 MiB tmpfs "disk" handed to its service as
``--data-dir``. Everything is built in ``prepare`` and removed in ``after_stop``
(``chaos.lab.netns``); ``chaos.lab.manage.lab_down`` removes it again by name if this
process was SIGKILLed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.lab import netns
from chaos.lab.supervisor import (
    API_REPLICAS,
    BaseSupervisor,
    ChildSpec,
    ServicePlan,
    clean_env,
    log,
    service_argv,
    service_env,
)

SERVICE_PORT = 8080
AGENT_PORT = 7070
TOKEN_FILE = "agent.token"
NODES_DIR = "nodes"
# Host numbers in the lab's /24, fixed per node so an address means the same node in
# both variants (the fragile lab simply has no .4); the bridge is .1.
HOST_NUMBERS = {"web": 2, "api-0": 3, "api-1": 4, "store": 5}


def node_names(variant: str) -> list[str]:
    return ["web", *(f"api-{n}" for n in range(API_REPLICAS[variant])), "store"]


def plan_netns_lab(
    *, lab_id: str, home: Path, variant: str
) -> tuple[netns.NetworkPlan, list[ServicePlan]]:
    names = node_names(variant)
    network = netns.plan_network(
        lab_id=lab_id, home=home, nodes=[(name, HOST_NUMBERS[name]) for name in names]
    )
    ip = {node.name: node.ip for node in network.nodes}
    store_url = f"http://{ip['store']}:{SERVICE_PORT}"
    api_names = [name for name in names if name.startswith("api-")]
    services = [ServicePlan("store", "store", 0, SERVICE_PORT, (), ip["store"], "store")]
    services += [
        ServicePlan(name, "api", n, SERVICE_PORT, (store_url,), ip[name], name)
        for n, name in enumerate(api_names)
    ]
    api_urls = tuple(f"http://{ip[name]}:{SERVICE_PORT}" for name in api_names)
    services.append(ServicePlan("web", "web", 0, SERVICE_PORT, api_urls, ip["web"], "web"))
    return network, services


def agent_url(node: netns.NodeNet) -> str:
    return f"http://{node.ip}:{AGENT_PORT}"


def agent_argv(node: netns.NodeNet, *, home: Path, lab_id: str) -> list[str]:
    """The node's agent, scoped to this lab's processes and its node's tmpfs disk (the
    disk-fill target that lives in memory on purpose): nothing else on the host."""
    return [
        sys.executable,
        *("-m", "chaos", "agent", "serve"),
        *("--listen", f"{node.ip}:{AGENT_PORT}", "--node", node.name),
        *("--journal-dir", str(home / NODES_DIR / node.name / "journal")),
        *("--token-file", str(home / TOKEN_FILE)),
        *("--scope-lab", lab_id, "--scope-ram-disk", str(node.disk)),
    ]


def write_token(path: Path) -> None:
    """A fresh shared secret for the agents, readable by root only (0600 from creation)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32))


def leaves_traces(home: Path) -> bool:
    """True when a netns lab may have left something here (see ``prepare``)."""
    return (home / TOKEN_FILE).exists() or (home / NODES_DIR).exists()


def destroy_lab(*, lab_id: str, home: Path) -> list[str]:
    """Remove everything a netns lab made — processes, mounts, links, namespaces, the
    FORWARD rule, the token and nodes/ — by name; idempotent. Logs are kept, as in the
    process lab. Returns what could not be removed (empty when all is gone)."""
    errors = netns.teardown(lab_id=lab_id, home=home)
    try:
        (home / TOKEN_FILE).unlink(missing_ok=True)
        if not errors:  # never delete below a disk that may still be mounted
            shutil.rmtree(home / NODES_DIR, ignore_errors=False)
    except FileNotFoundError:
        pass
    except OSError as exc:
        errors.append(f"cannot remove lab files: {exc}")
    return errors


@dataclass
class NetnsSupervisor(BaseSupervisor):
    def __post_init__(self) -> None:
        self.network, self.services = plan_netns_lab(
            lab_id=self.lab_id, home=self.state_dir, variant=self.variant
        )
        self.nodes = {node.name: node for node in self.network.nodes}

    def prepare(self) -> None:
        # The token and nodes/ come first: they tell lab_down there may be a network to
        # remove even if we die before writing state.json.
        write_token(self.state_dir / TOKEN_FILE)
        for node in self.network.nodes:
            (self.state_dir / NODES_DIR / node.name / "journal").mkdir(parents=True, exist_ok=True)
        netns.create_network(self.network)
        log.info("network %s on %s is up", self.network.bridge, self.network.subnet)

    def child_specs(self) -> list[ChildSpec]:
        specs = []
        for plan in self.services:
            node = self.nodes[plan.name]
            extra = {
                "CHAOS_NODE": node.name,
                "CHAOS_NODE_IP": node.ip,
                "CHAOS_AGENT": agent_url(node),
            }
            argv = service_argv(plan, variant=self.variant, data_dir=node.disk)
            env = service_env(plan, lab_id=self.lab_id, variant=self.variant, extra=extra)
            specs.append(ChildSpec(plan.name, tuple(netns.in_netns(node.netns, argv)), env, plan))
        for node in self.network.nodes:
            # No lab labels: an agent must never be selectable as a fault target.
            argv = netns.in_netns(
                node.netns, agent_argv(node, home=self.state_dir, lab_id=self.lab_id)
            )
            specs.append(ChildSpec(f"agent-{node.name}", tuple(argv), clean_env()))
        return specs

    def service_fields(self, plan: ServicePlan) -> dict[str, Any]:
        return {"node": plan.node, "ip": plan.host}

    def state_fields(self) -> dict[str, Any]:
        nodes = []
        for node in self.network.nodes:
            agent = self.children.get(f"agent-{node.name}")
            nodes.append(
                {
                    "name": node.name,
                    "netns": node.netns,
                    "ip": node.ip,
                    "agent_url": agent_url(node),
                    "disk": str(node.disk),
                    "agent_pid": agent.process.pid if agent else 0,
                    "agent_restarts": agent.restarts if agent else 0,
                }
            )
        return {
            "isolation": "netns",
            "subnet": str(self.network.subnet),
            "bridge": self.network.bridge,
            "web_url": f"http://{self.nodes['web'].ip}:{SERVICE_PORT}",
            "nodes": nodes,
        }

    def after_stop(self) -> None:
        for error in destroy_lab(lab_id=self.lab_id, home=self.state_dir):
            log.error("teardown: %s", error)
        log.info("network %s removed", self.network.bridge)
