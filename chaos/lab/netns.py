"""The network of a netns lab: one namespace per node, veths into one bridge, tmpfs disks.

Every command is an argv list built by a pure function below (tests compare them), and
run without a shell by :func:`run`. Every name carries the lab's short id
(``chl-<short>-<node>``, ``chb-<short>``, ``chv-<short>-<tag>``, ``chaos-<short>-<node>``),
so teardown finds what the lab made by name alone — even when the supervisor was
SIGKILLed and left no state — and never touches anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from chaos.errors import LabError

SUBNET_PREFIX = "10.213"  # the lab's /24 is 10.213.K.0/24, K from the lab id's hash
DISK_SIZE_MB = 64
PEER_IFNAME = "eth0"  # the node's end of its veth, inside its namespace
# ``ip netns exec NS`` bind-mounts /etc/netns/NS/<file> over /etc/<file> for the command.
ETC_NETNS = Path("/etc/netns")
COMMAND_TIMEOUT_S = 15.0
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "nat"}
_ROUTE_TYPES |= {"unreachable", "blackhole", "prohibit", "throw"}
T = TypeVar("T")
# What ip/umount say when the thing vanished between listing and removing it: success.
_ALREADY_GONE = ("Cannot find device", "No such file or directory", "not mounted")


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


# --- pure argv builders -------------------------------------------------------------


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


# --- running them -------------------------------------------------------------------


def run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"`{' '.join(argv)}` could not run: {exc}") from exc
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result


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


def ensure_subnet_free(plan: NetworkPlan) -> None:
    routes = run(["ip", "-4", "route", "show", "table", "all"]).stdout
    if hits := routed_overlaps(plan.subnet, routes):
        raise LabError(
            f"subnet {plan.subnet} of lab {plan.lab_id!r} is already routed on this host "
            f"({hits[0]}); pick another lab id"
        )


def hosts_file(plan: NetworkPlan) -> str:
    lines = ["127.0.0.1 localhost", f"{plan.bridge_ip} host"]
    return "\n".join([*lines, *(f"{node.ip} {node.name}" for node in plan.nodes)]) + "\n"


# No nameserver: lookups fail at once instead of waiting for a DNS server the namespace
# cannot reach (Python's http.server resolves its own address at bind time).
RESOLV_CONF = "# chaos lab node: no DNS, names are in /etc/hosts\noptions timeout:1 attempts:1\n"


def write_etc_files(plan: NetworkPlan) -> None:
    """Per-node /etc/hosts naming every node (a tiny cluster DNS) and a DNS-less resolv.conf."""
    for node in plan.nodes:
        etc = ETC_NETNS / node.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts_file(plan))
        (etc / "resolv.conf").write_text(RESOLV_CONF)


def create_network(plan: NetworkPlan) -> None:
    """Build namespaces, bridge, veths and disks. The caller tears down on failure."""
    ensure_subnet_free(plan)
    write_etc_files(plan)
    for argv in setup_commands(plan):
        run(argv)
    for node in plan.nodes:
        node.disk.mkdir(parents=True, exist_ok=True)
        run(mount_disk(node))


# --- teardown, by name: works without any state -------------------------------------


def our_namespaces(short: str) -> list[str]:
    listing = run(["ip", "netns", "list"]).stdout
    names = (line.split()[0] for line in listing.splitlines() if line.strip())
    return [name for name in names if name.startswith(f"chl-{short}-")]


def our_links(short: str) -> list[str]:
    """Host-side veths and the bridge (``ip -o link``: "7: name@peer: <...>")."""
    listing = run(["ip", "-o", "link", "show"]).stdout
    names = (line.split(":")[1].strip().split("@")[0] for line in listing.splitlines())
    return [n for n in names if n == f"chb-{short}" or n.startswith(f"chv-{short}-")]


def our_mounts(short: str, home: Path) -> list[Path]:
    """tmpfs mounts named ``chaos-<short>-*`` below the lab's home, deepest first."""
    listing = run(["findmnt", "-rn", "-t", "tmpfs", "-o", "TARGET,SOURCE"], check=False).stdout
    found = []
    for line in listing.splitlines():
        target, _, source = line.partition(" ")
        path = Path(target.replace("\\x20", " "))
        if source.startswith(f"chaos-{short}-") and path.is_relative_to(home):
            found.append(path)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def kill_namespace_processes(namespaces: Iterable[str], *, timeout_s: float = 5.0) -> None:
    """SIGKILL every process in our namespaces: nobody else's process lives there."""
    namespaces = list(namespaces)
    deadline = time.monotonic() + timeout_s
    while True:
        pids = [
            int(p) for ns in namespaces for p in run(netns_pids(ns), check=False).stdout.split()
        ]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} in the lab's namespaces survived SIGKILL")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def teardown(*, lab_id: str, home: Path) -> list[str]:
    """Remove every process, mount, link, namespace and rule of this lab; idempotent.

    Every step runs even if an earlier one failed; the failures are returned (empty
    when everything is gone) so the caller can report them."""
    short = short_id(lab_id)
    plan = plan_network(lab_id=lab_id, home=home, nodes=())
    errors: list[str] = []
    steps = (
        lambda: kill_namespace_processes(our_namespaces(short)),
        lambda: _each(unmount, our_mounts(short, home), lazy_retry=True),
        # Links before namespaces: deleting a host end takes its peer at once, whereas a
        # deleted namespace releases its veths asynchronously.
        lambda: _each(delete_link, our_links(short)),
        lambda: _each(delete_netns, our_namespaces(short)),
        lambda: _remove_forward_rules(plan),
        lambda: _remove_etc_files(short),
    )
    for step in steps:
        try:
            step()
        except LabError as exc:
            errors.append(str(exc))
    return errors


def _each(build: Callable[[T], list[str]], items: Iterable[T], *, lazy_retry: bool = False) -> None:
    for item in items:
        argv = build(item)
        result = run(argv, check=False)
        if result.returncode != 0 and lazy_retry:  # busy: detach now, freed once unused
            result = run([argv[0], "-l", *argv[1:]], check=False)
        if result.returncode != 0 and not any(gone in result.stderr for gone in _ALREADY_GONE):
            raise LabError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")


def _remove_forward_rules(plan: NetworkPlan) -> None:
    for _ in range(10):  # normally once; a crashed start may have inserted it twice
        if run(forward_rule(plan, "-C"), check=False).returncode != 0:
            return
        run(forward_rule(plan, "-D"))


def _remove_etc_files(short: str) -> None:
    try:
        for etc in ETC_NETNS.glob(f"chl-{short}-*"):
            shutil.rmtree(etc)
        with contextlib.suppress(OSError):  # only if empty: it may hold others' namespaces
            ETC_NETNS.rmdir()
    except OSError as exc:
        raise LabError(f"cannot remove {ETC_NETNS}/chl-{short}-*: {exc}") from exc
