"""Every kernel fault through a real node agent in the netns lab, as root.

For each fault: the effect is observable from another node, and after the revert
the node is exactly as before (iptables-save and tc qdisc inside the node's
namespace, files on its disk, processes carrying the fault's tag). Measurement
servers are started by the tests inside the lab's store namespace and stopped by
them; all traffic stays inside the lab's own namespaces.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.controller.agent_client import AgentClient, AgentCredentials
from chaos.faults import CATALOG, wire
from chaos.faults.base import FaultRequest
from chaos.host import iptables, procs
from chaos.lab.manage import LabState, NodeState, lab_down, lab_up
from chaos.spec.models import Selector
from chaos.targets.base import Scope, Target
from chaos.targets.local import LocalProcessBackend
from tests.host.netlab import echo_rtts, in_namespace, median_ms, send_throughput, tcp_outcome
from tests.support import free_base_port, free_lab_id, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]
ECHO_SERVER = Path(__file__).resolve().parents[1] / "host" / "echo_server.py"
TCP, SINK, UDP = 7100, 7101, 7102


@dataclass(frozen=True)
class Lab:
    state: LabState
    home: Path

    def node(self, name: str) -> NodeState:
        return next(n for n in self.state.nodes if n.name == name)

    def target(self, app: str) -> Target:
        found = LocalProcessBackend().candidates(
            selector=Selector(labels={"app": app}), scope=Scope(lab_id=self.state.lab_id)
        )
        return sorted(found, key=lambda t: t.uid)[0]

    def client(self, node: str) -> AgentClient:
        token = (self.home / "labs" / self.state.lab_id / "agent.token").read_text().strip()
        return AgentClient(self.node(node).agent_url, credentials=AgentCredentials(token=token))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("netns-faults")
    lab_id = free_lab_id("nf")
    state = lab_up(
        chaos_home=home,
        lab_id=lab_id,
        variant="resilient",
        base_port=free_base_port(),
        isolation="netns",
    )
    servers = []
    try:
        store_ns = next(n.netns for n in state.nodes if n.name == "store")
        argv = [
            "ip",
            "netns",
            "exec",
            store_ns,
            sys.executable,
            str(ECHO_SERVER),
            "--tcp",
            str(TCP),
            "--sink",
            str(SINK),
            "--udp",
            str(UDP),
        ]
        servers.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
        lab = Lab(state=state, home=home)
        wait_for(
            lambda: (
                in_namespace(
                    lab.node("api-0").netns, lambda: tcp_outcome(lab.node("store").ip, TCP)
                )
                == "ok"
            ),
            timeout=10,
            what="the echo server in the store namespace",
        )
        yield lab
    finally:
        for server in servers:
            server.kill()
            server.wait()
        lab_down(chaos_home=home, lab_id=lab_id)


def snapshot(lab: Lab, node: str, fault_id: str) -> tuple:
    """What a fault could leave behind on a node."""
    netns = f"/run/netns/{lab.node(node).netns}"
    qdiscs = subprocess.run(
        ["ip", "netns", "exec", lab.node(node).netns, "tc", "qdisc", "show"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return (
        iptables.ruleset(netns),
        qdiscs,
        sorted(os.listdir(lab.node(node).disk)),
        procs.find_tagged(fault_id),
    )


def apply(
    lab: Lab,
    *,
    node: str,
    app: str,
    fault: str,
    params: dict,
    peers: dict[str, list[str]] | None = None,
) -> str:
    fault_id = f"t-{secrets.token_hex(4)}"
    model = CATALOG[fault].params.model_validate(params)
    request = FaultRequest(
        fault_id=fault_id,
        key=fault_id,
        target=lab.target(app),
        params=model,
        peers={name: tuple(lab.target(a) for a in apps) for name, apps in (peers or {}).items()},
        ttl_s=60,
    )
    lab.client(node).apply(wire.request_to_json(request, fault=fault))
    return fault_id


def from_node(lab: Lab, node: str, fn):
    return in_namespace(lab.node(node).netns, fn)


@pytest.mark.parametrize(("action", "expected"), [("drop", "timeout"), ("reject", "refused")])
def test_partition(lab: Lab, action: str, expected: str):
    store_ip = lab.node("store").ip
    before = snapshot(lab, "store", "none")
    fault_id = apply(
        lab,
        node="store",
        app="store",
        fault="network-partition",
        params={"direction": "in", "action": action},
    )
    try:
        assert from_node(lab, "api-0", lambda: tcp_outcome(store_ip, TCP)) == expected
        # the agent's own API stays reachable: it must be able to revert
        assert lab.client("store").faults()[0]["id"] == fault_id
    finally:
        assert lab.client("store").revert(fault_id)["reverted"]
    assert from_node(lab, "api-0", lambda: tcp_outcome(store_ip, TCP)) == "ok"
    assert snapshot(lab, "store", fault_id) == before


def test_partition_only_from_named_peers(lab: Lab):
    store_ip = lab.node("store").ip
    fault_id = apply(
        lab,
        node="store",
        app="store",
        fault="network-partition",
        params={"direction": "in", "action": "reject", "peers": ["api"]},
        peers={"peers": ["api"]},
    )
    try:
        assert from_node(lab, "api-0", lambda: tcp_outcome(store_ip, TCP)) == "refused"
        assert from_node(lab, "web", lambda: tcp_outcome(store_ip, TCP)) == "ok"
    finally:
        lab.client("store").revert(fault_id)


def test_loss(lab: Lab):
    store_ip = lab.node("store").ip
    before = snapshot(lab, "store", "none")
    fault_id = apply(
        lab,
        node="store",
        app="store",
        fault="network-loss",
        params={"percent": 50, "direction": "out"},
    )
    try:
        from tests.host.netlab import udp_loss

        loss = from_node(lab, "api-0", lambda: udp_loss(store_ip, UDP, count=400))
        assert 0.4 <= loss <= 0.6, loss
    finally:
        lab.client("store").revert(fault_id)
    assert from_node(lab, "api-0", lambda: udp_loss(store_ip, UDP, count=100)) < 0.05
    assert snapshot(lab, "store", fault_id) == before


def test_bandwidth(lab: Lab):
    web_ip = lab.node("store").ip
    before = snapshot(lab, "api-0", "none")
    fault_id = apply(
        lab, node="api-0", app="api", fault="network-bandwidth", params={"rate": "2mbit"}
    )
    try:
        rate = from_node(lab, "api-0", lambda: send_throughput(web_ip, SINK, size=500_000))
        assert 1.6e6 <= rate <= 2.4e6, rate
    finally:
        lab.client("api-0").revert(fault_id)
    assert snapshot(lab, "api-0", fault_id) == before


def test_latency_with_the_proxy_backend(lab: Lab):
    store_ip = lab.node("store").ip
    baseline = median_ms(from_node(lab, "api-0", lambda: echo_rtts(store_ip, TCP, rounds=15)))
    before = snapshot(lab, "api-0", "none")
    fault_id = apply(
        lab,
        node="api-0",
        app="api",
        fault="network-latency",
        params={"delay": "100ms", "to": ["store"], "backend": "proxy"},
        peers={"to": ["store"]},
    )
    try:
        faulty = median_ms(from_node(lab, "api-0", lambda: echo_rtts(store_ip, TCP, rounds=15)))
        assert 95 <= faulty - baseline <= 105, (baseline, faulty)
        assert lab.client("api-0").faults()[0]["backend"] == "proxy"
    finally:
        lab.client("api-0").revert(fault_id)
    assert snapshot(lab, "api-0", fault_id) == before


def test_disk_fill_makes_writes_fail_and_is_undone(lab: Lab):
    import json
    import urllib.error
    import urllib.request

    disk = lab.node("store").disk
    before = snapshot(lab, "store", "none")
    url = f"http://{lab.node('store').ip}:8080/items"

    def post() -> int:
        request = urllib.request.Request(
            url,
            data=json.dumps({"name": "x"}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    fault_id = apply(
        lab,
        node="store",
        app="store",
        fault="disk-fill",
        params={"path": str(disk), "percent": 100},
    )
    try:
        usage = os.statvfs(disk)
        assert usage.f_bavail == 0
        assert post() == 507
    finally:
        lab.client("store").revert(fault_id)
    assert post() == 201
    after = snapshot(lab, "store", fault_id)
    assert not [name for name in after[2] if name.startswith(".chaos-fill")]
    assert after[:2] == before[:2]


def test_disk_fill_refuses_the_root_filesystem(lab: Lab):
    from chaos.errors import AgentError

    with pytest.raises(AgentError, match=r"disk-fill.*root"):
        apply(
            lab,
            node="store",
            app="store",
            fault="disk-fill",
            params={"path": "/tmp", "percent": 50},
        )


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def test_cpu_and_memory_stress(lab: Lab):
    cpu_id = apply(
        lab, node="store", app="store", fault="cpu-stress", params={"workers": 1, "load": 50}
    )
    mem_id = apply(lab, node="store", app="store", fault="memory-stress", params={"size": "64MiB"})
    try:
        wait_for(lambda: len(procs.find_tagged(cpu_id)) >= 2, timeout=5, what="cpu workers")
        workers = procs.find_tagged(cpu_id)
        before = cpu_seconds(workers)
        time.sleep(2)
        used = cpu_seconds(workers) - before
        assert 0.6 <= used <= 1.5, used  # ≈ 50 % of one core over 2 s
        (holder,) = procs.find_tagged(mem_id)
        wait_for(lambda: _rss_mib(holder) >= 64, timeout=10, what="memory to be touched")
    finally:
        lab.client("store").revert(cpu_id)
        lab.client("store").revert(mem_id)
    assert procs.find_tagged(cpu_id) == [] and procs.find_tagged(mem_id) == []


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_an_unavailable_driver_is_a_clear_error_naming_fault_and_node(lab: Lab):
    from chaos.errors import AgentError

    before = snapshot(lab, "store", "none")
    with pytest.raises(AgentError, match="network-latency: netem is not available on node store"):
        apply(
            lab,
            node="store",
            app="store",
            fault="network-latency",
            params={"delay": "100ms", "backend": "netem"},
        )
    assert snapshot(lab, "store", "none") == before


def test_a_vanished_target_is_refused_with_nothing_applied(lab: Lab):
    from chaos.errors import AgentError

    target = lab.target("store")
    ghost = Target(**{**target.__dict__, "start_time": (target.start_time or 0) + 1})
    request = FaultRequest(
        fault_id="ghost-1",
        key="ghost-1",
        target=ghost,
        params=CATALOG["network-partition"].params(),
        ttl_s=30,
    )
    before = snapshot(lab, "store", "ghost-1")
    with pytest.raises(AgentError, match="410"):
        lab.client("store").apply(wire.request_to_json(request, fault="network-partition"))
    assert snapshot(lab, "store", "ghost-1") == before
