"""The network of a netns lab as data: names, addresses, and the argv that builds it.

Pure functions only (tests compare their output); ``chaos.lab.netns`` runs them. Every
name carries the lab's short id (``chl-<short>-<node>``, ``chb-<short>``,
``chv-<short>-<tag>``, ``chaos-<short>-<node>``) so teardown can find it by name alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SUBNET_PREFIX = "10.213"  # the lab's /24 is 10.213.K.0/24, K from the lab id's hash
DISK_SIZE_MB = 64
PEER_IFNAME = "eth0"  # the node's end of its veth, inside its namespace
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "nat"}
_ROUTE_TYPES |= {"unreachable", "blackhole", "prohibit", "throw"}


@dataclass(frozen=True)
class NodeNet:
    name: str  # "api-0"
    netns: str  # "chl-1a2b3c-api-0"
    ip: str
    host_veth: str  # "chv-1a2b3c-api0" (at most 15 characters)
    disk: Path
    disk_source: str  # "chaos-1a2b3c-api-0", what findmnt shows as SOURCE


@dataclass(frozen=True)
class NetworkPlan:
    lab_id: str
    short: str
    subnet: ipaddress.IPv4Network
    bridge: str
    bridge_ip: str
    nodes: tuple[NodeNet, ...]

    @property
    def rule_comment(self) -> str:
        return f"chaos-lab-{self.short}"


def short_id(lab_id: str) -> str:
    return hashlib.sha256(lab_id.encode()).hexdigest()[:6]


def lab_subnet(lab_id: str) -> ipaddress.IPv4Network:
    k = hashlib.sha256(lab_id.encode()).digest()[3]  # the byte after the short id's
    return ipaddress.IPv4Network(f"{SUBNET_PREFIX}.{k}.0/24")


def plan_network(*, lab_id: str, home: Path, nodes: Sequence[tuple[str, int]]) -> NetworkPlan:
    """``nodes`` are (name, host number in the /24); the bridge takes .1."""
    short, subnet = short_id(lab_id), lab_subnet(lab_id)
    planned = tuple(
        NodeNet(
            name=name,
            netns=f"chl-{short}-{name}",
            ip=str(subnet.network_address + number),
            host_veth=f"chv-{short}-{name.replace('-', '')[:4]}",
            disk=home / "nodes" / name / "disk",
            disk_source=f"chaos-{short}-{name}",
        )
        for name, number in nodes
    )
    return NetworkPlan(
        lab_id=lab_id,
        short=short,
        subnet=subnet,
        bridge=f"chb-{short}",
        bridge_ip=str(subnet.network_address + 1),
        nodes=planned,
    )


def _ip(*args: str, netns: str | None = None) -> list[str]:
    return ["ip", *(("-n", netns) if netns else ()), *args]


def add_netns(netns: str) -> list[str]:
    return _ip("netns", "add", netns)


def delete_netns(netns: str) -> list[str]:
    return _ip("netns", "delete", netns)


def netns_pids(netns: str) -> list[str]:
    return _ip("netns", "pids", netns)


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """Run ``argv`` in the namespace; ``ip netns exec`` execs it, so the pid is argv's."""
    return _ip("netns", "exec", netns, *argv)


def add_bridge(bridge: str) -> list[str]:
    return _ip("link", "add", "name", bridge, "type", "bridge")


def add_veth(host_end: str, *, netns: str) -> list[str]:
    return _ip("link", "add", host_end, "type", "veth", "peer", "name", PEER_IFNAME, "netns", netns)


def set_master(dev: str, bridge: str) -> list[str]:
    return _ip("link", "set", dev, "master", bridge)


def link_up(dev: str, *, netns: str | None = None) -> list[str]:
    return _ip("link", "set", dev, "up", netns=netns)


def add_address(dev: str, cidr: str, *, netns: str | None = None) -> list[str]:
    return _ip("addr", "add", cidr, "dev", dev, netns=netns)


def add_default_route(gateway: str, *, netns: str) -> list[str]:
    return _ip("route", "add", "default", "via", gateway, netns=netns)


def delete_link(dev: str) -> list[str]:
    return _ip("link", "delete", dev)


def mount_disk(node: NodeNet, *, size_mb: int = DISK_SIZE_MB) -> list[str]:
    options = f"size={size_mb}m,mode=0755"
    return ["mount", "-t", "tmpfs", "-o", options, node.disk_source, str(node.disk)]


def unmount(target: Path) -> list[str]:
    return ["umount", str(target)]


def forward_rule(plan: NetworkPlan, action: str) -> list[str]:
    """Bridged traffic crosses the host's FORWARD chain when br_netfilter is loaded (and
    Docker sets its policy to DROP): one ACCEPT rule of ours, found again by its comment."""
    spec = ["-i", plan.bridge, "-o", plan.bridge, "-m", "comment", "--comment", plan.rule_comment]
    return ["iptables", "-w", action, "FORWARD", *spec, "-j", "ACCEPT"]


def setup_commands(plan: NetworkPlan) -> list[list[str]]:
    """Everything that builds the network, in order (disks are mounted separately)."""
    prefix = plan.subnet.prefixlen
    commands = [add_netns(node.netns) for node in plan.nodes]
    commands += [
        add_bridge(plan.bridge),
        add_address(plan.bridge, f"{plan.bridge_ip}/{prefix}"),
        link_up(plan.bridge),
    ]
    for node in plan.nodes:
        commands += [
            add_veth(node.host_veth, netns=node.netns),
            set_master(node.host_veth, plan.bridge),
            link_up(node.host_veth),
            add_address(PEER_IFNAME, f"{node.ip}/{prefix}", netns=node.netns),
            link_up(PEER_IFNAME, netns=node.netns),
            link_up("lo", netns=node.netns),
            add_default_route(plan.bridge_ip, netns=node.netns),
        ]
    return [*commands, forward_rule(plan, "-I")]


def routed_overlaps(subnet: ipaddress.IPv4Network, route_table: str) -> list[str]:
    """Routes (lines of ``ip -4 route show table all``) whose destination overlaps ours."""
    hits = []
    for line in route_table.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default":
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.IPv4Network(words[0], strict=False).overlaps(subnet):
                hits.append(line.strip())
    return hits


def hosts_file(plan: NetworkPlan) -> str:
    lines = ["127.0.0.1 localhost", f"{plan.bridge_ip} host"]
    return "\n".join([*lines, *(f"{node.ip} {node.name}" for node in plan.nodes)]) + "\n"


# No nameserver: lookups fail at once instead of waiting for a DNS server the namespace
# cannot reach (Python's http.server resolves its own address at bind time).
RESOLV_CONF = "# chaos lab node: no DNS, names are in /etc/hosts\noptions timeout:1 attempts:1\n"
