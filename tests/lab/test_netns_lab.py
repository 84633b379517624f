"""The netns lab end to end: real namespaces, veths, bridge, tmpfs disks and processes.

Needs root (skipped otherwise), except the pure builder tests at the top. Every test
leaves the host as it found it: namespaces, links, routes, mounts and FORWARD rules are
compared before and after.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos.errors import LabError
from chaos.lab import netns
from chaos.lab.manage import Isolation, LabState, lab_down, lab_status, lab_up
from chaos.lab.netns_supervisor import plan_netns_lab
from tests.support import free_lab_id, pid_alive, wait_for

RESTART_DELAY_S = 0.5
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

as_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="the netns lab needs root and iproute2 (namespaces, bridge, tmpfs mounts)",
)


def agent_available() -> bool:
    command = [sys.executable, "-m", "chaos", "agent", "serve", "--help"]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


needs_agent = pytest.mark.skipif(
    not agent_available(), reason="`chaos agent serve` does not exist yet (agent not merged)"
)


# --- pure builders: no root needed ---------------------------------------------------


def test_names_fit_interface_limits_and_carry_the_short_id(tmp_path: Path) -> None:
    network, services = plan_netns_lab(lab_id="demo", home=tmp_path, variant="resilient")
    short = netns.short_id("demo")
    assert network.bridge == f"chb-{short}" and network.bridge_ip.endswith(".1")
    assert network.subnet.prefixlen == 24 and network.subnet.subnet_of(
        ipaddress.IPv4Network("10.213.0.0/16")
    )
    for node in network.nodes:
        assert len(node.host_veth) <= 15 and short in node.host_veth
        assert node.netns == f"chl-{short}-{node.name}"
        assert ipaddress.IPv4Address(node.ip) in network.subnet
        assert node.disk == tmp_path / "nodes" / node.name / "disk"
    assert len({n.host_veth for n in network.nodes}) == len(network.nodes)
    web = next(s for s in services if s.name == "web")
    assert web.upstreams == tuple(f"http://{s.host}:8080" for s in services if s.app == "api")


def test_setup_commands_are_argv_lists(tmp_path: Path) -> None:
    network, _ = plan_netns_lab(lab_id="demo", home=tmp_path, variant="fragile")
    node = network.nodes[0]
    commands = netns.setup_commands(network)
    assert commands[0] == ["ip", "netns", "add", node.netns]
    assert ["ip", "link", "add", "name", network.bridge, "type", "bridge"] in commands
    veth = ["ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", "eth0"]
    assert [*veth, "netns", node.netns] in commands
    route = ["ip", "-n", node.netns, "route", "add", "default", "via", network.bridge_ip]
    assert route in commands
    assert commands[-1][:4] == ["iptables", "-w", "-I", "FORWARD"]
    assert netns.mount_disk(node) == [
        *("mount", "-t", "tmpfs", "-o", "size=64m,mode=0755"),
        f"chaos-{network.short}-{node.name}",
        str(node.disk),
    ]
    assert netns.in_netns(node.netns, ["true"]) == ["ip", "netns", "exec", node.netns, "true"]


def test_routed_overlaps_ignores_default_and_finds_wider_routes() -> None:
    ours = ipaddress.IPv4Network("10.213.7.0/24")
    table = "\n".join(
        [
            "default via 192.0.2.1 dev eth0",
            "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2",
            "local 10.213.7.1 dev lo table local proto kernel scope host src 10.213.7.1",
            "10.0.0.0/8 via 192.0.2.9 dev eth0",
        ]
    )
    assert len(netns.routed_overlaps(ours, table)) == 2
    assert netns.routed_overlaps(ours, "default via 192.0.2.1 dev eth0") == []


def test_cli_refuses_netns_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos.cli import lab as lab_cli

    monkeypatch.setattr(lab_cli.os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(lab_cli.app, ["up", "--isolation", "netns"])
    assert result.exit_code == 4
    assert "needs root" in result.output


# --- real labs, as root ------------------------------------------------------------


def host_snapshot(lab_id: str, home: Path) -> dict[str, list[str]]:
    """What the host holds of this lab: every line of ``ip netns list``, ``ip -o link``,
    ``ip -4 route``, ``findmnt -rn``, the FORWARD chain and /etc/netns that names the
    lab's short id, its subnet or its home. (Other engineers' namespaces may come and go
    meanwhile; they are not ours to compare.)"""

    def out(*argv: str) -> list[str]:
        text = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        return text.splitlines()

    marks = (netns.short_id(lab_id), str(netns.lab_subnet(lab_id))[:-4], str(home))
    raw = {
        "netns": out("ip", "netns", "list"),
        "links": [line.split(":")[1] for line in out("ip", "-o", "link") if ":" in line],
        "routes": out("ip", "-4", "route"),
        "mounts": out("findmnt", "-rn"),
        "forward": out("iptables", "-w", "-S", "FORWARD"),
        "etc_netns": [p.name for p in Path("/etc/netns").glob("*")],
    }
    return {
        key: sorted(x for x in lines if any(m in x for m in marks)) for key, lines in raw.items()
    }


EMPTY = {key: [] for key in ("netns", "links", "routes", "mounts", "forward", "etc_netns")}


def get(url: str, *, timeout: float = 2.0) -> tuple[int | None, dict]:
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return None, {}


def post(url: str, body: dict) -> tuple[int | None, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=2.0) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def netns_of(pid: int) -> str:
    argv = ["ip", "netns", "identify", str(pid)]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def lab_pids(state: LabState) -> list[int]:
    return [*(s.pid for s in state.services), *(n.agent_pid for n in state.nodes)]


def current(state: LabState) -> LabState:
    fresh = lab_status(chaos_home=state.home.parent.parent, lab_id=state.lab_id)
    assert fresh is not None
    return fresh


@pytest.fixture(scope="module")
def resilient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the netns lab needs root and iproute2")
    home = tmp_path_factory.mktemp("netns-lab")
    lab_id = free_lab_id("nt")
    assert host_snapshot(lab_id, home) == EMPTY
    state = lab_up(
        chaos_home=home,
        lab_id=lab_id,
        variant="resilient",
        restart_delay_s=RESTART_DELAY_S,
        isolation="netns",
    )
    try:
        yield state
    finally:
        lab_down(chaos_home=home, lab_id=state.lab_id)
        assert host_snapshot(lab_id, home) == EMPTY


@as_root
def test_web_answers_from_the_host_and_each_node_from_its_own_ip(resilient: LabState) -> None:
    status, body = get(resilient.web_url)
    assert status == 200 and body["items"] and body["degraded"] is False
    assert resilient.isolation is Isolation.NETNS and resilient.control_url is None
    nodes = {node.name: node for node in resilient.nodes}
    assert set(nodes) == {"web", "api-0", "api-1", "store"}
    for service in resilient.services:
        node = nodes[service.name]
        assert service.url == f"http://{node.ip}:8080" and service.node == node.name
        assert get(f"{service.url}/health")[0] == 200
        assert netns_of(service.pid) == node.netns
        env = environ(service.pid)
        assert env["CHAOS_NODE"] == node.name and env["CHAOS_NODE_IP"] == node.ip
        assert env["CHAOS_AGENT"] == f"http://{node.ip}:7070" == node.agent_url
        assert env["CHAOS_LABELS"].endswith(f",node={node.name}")
        assert env["CHAOS_LAB_ID"] == resilient.lab_id and "CHAOS_LAB_CONTROL" not in env
        mounted = subprocess.run(
            ["findmnt", "-rn", "-o", "SOURCE", str(node.disk)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert mounted.strip() == f"chaos-{netns.short_id(resilient.lab_id)}-{node.name}"


@as_root
def test_state_json_records_isolation_subnet_and_nodes(resilient: LabState) -> None:
    raw = json.loads((resilient.home / "state.json").read_text())
    assert raw["isolation"] == "netns" and raw["subnet"] == resilient.subnet
    assert raw["web_url"] == resilient.web_url
    node = raw["nodes"][0]
    assert {"name", "netns", "ip", "agent_url", "disk"} <= set(node)
    assert {s["ip"] for s in raw["services"]} == {n["ip"] for n in raw["nodes"]}
    token = resilient.home / "agent.token"
    assert token.stat().st_mode & 0o777 == 0o600 and len(token.read_text()) >= 40


@as_root
def test_each_node_runs_its_agent_in_its_namespace(resilient: LabState) -> None:
    for node in resilient.nodes:
        assert pid_alive(node.agent_pid) and netns_of(node.agent_pid) == node.netns
        assert "CHAOS_LABELS" not in environ(node.agent_pid)  # never a fault target


@as_root
@needs_agent
def test_every_agent_answers_healthz(resilient: LabState) -> None:
    wait_for(lambda: current(resilient).agents_healthy, timeout=15, what="every agent healthy")


@as_root
def test_killed_api_is_restarted_inside_its_namespace(resilient: LabState) -> None:
    old = next(s for s in resilient.services if s.name == "api-0")
    os.kill(old.pid, signal.SIGKILL)

    def restarted() -> bool:
        api = next(s for s in current(resilient).services if s.name == "api-0")
        return api.pid != old.pid and api.healthy

    wait_for(restarted, timeout=RESTART_DELAY_S + 8, what="api-0 restarted")
    api = next(s for s in current(resilient).services if s.name == "api-0")
    assert api.restarts >= 1 and pid_alive(api.pid)
    assert netns_of(api.pid) == f"chl-{netns.short_id(resilient.lab_id)}-api-0"


@as_root
def test_store_writes_fail_with_507_when_its_disk_is_full(resilient: LabState) -> None:
    store = next(s for s in resilient.services if s.name == "store")
    disk = next(n.disk for n in resilient.nodes if n.name == "store")
    status, body = post(f"{store.url}/items", {"name": "saucer", "stock": 5})
    assert status == 201, body
    assert "saucer" in (disk / "items.json").read_text()
    filler = disk / "filler"
    try:
        with open(filler, "wb") as out:
            while True:
                out.write(b"\0" * (1 << 20))
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    try:
        status, body = post(f"{store.url}/items", {"name": "jug", "stock": 1})
        assert status == 507, body
        assert "jug" not in json.dumps(get(f"{store.url}/items")[1])
    finally:
        filler.unlink()
    assert post(f"{store.url}/items", {"name": "jug", "stock": 1})[0] == 201


@as_root
def test_lab_up_twice_is_refused(resilient: LabState) -> None:
    with pytest.raises(LabError, match="already running"):
        lab_up(chaos_home=resilient.home.parent.parent, lab_id=resilient.lab_id, isolation="netns")


def _same_subnet_other_lab(lab_id: str) -> str:
    """Another lab id whose /24 is the same as ``lab_id``'s (a hash-byte collision)."""
    subnet = netns.lab_subnet(lab_id)
    for n in range(100_000):
        other = f"clash-{n}"
        if netns.lab_subnet(other) == subnet and netns.short_id(other) != netns.short_id(lab_id):
            return other
    raise AssertionError("no colliding lab id found")


@as_root
def test_a_lab_whose_subnet_is_routed_is_refused_and_harms_nothing(
    resilient: LabState, tmp_path: Path
) -> None:
    other = _same_subnet_other_lab(resilient.lab_id)
    assert hashlib.sha256(other.encode()).hexdigest()[:6] != netns.short_id(resilient.lab_id)
    with pytest.raises(LabError, match="already routed"):
        lab_up(chaos_home=tmp_path, lab_id=other, isolation="netns", timeout_s=10)
    assert current(resilient).healthy
    assert get(resilient.web_url)[0] == 200


def _start_fragile(home: Path, lab_id: str) -> LabState:
    return lab_up(
        chaos_home=home, lab_id=lab_id, variant="fragile", isolation="netns", timeout_s=15
    )


@as_root
def test_lab_down_leaves_nothing_behind(tmp_path: Path) -> None:
    lab_id = free_lab_id("nd")
    assert host_snapshot(lab_id, tmp_path) == EMPTY
    state = _start_fragile(tmp_path, lab_id)
    try:
        assert {n.name for n in state.nodes} == {"web", "api-0", "store"}
        during = host_snapshot(lab_id, tmp_path)
        assert all(during[key] for key in ("netns", "links", "routes", "mounts", "forward"))
        pids = [state.supervisor_pid, *lab_pids(state)]
        assert lab_down(chaos_home=tmp_path, lab_id=lab_id) is True
        assert not any(pid_alive(pid) for pid in pids)
        assert host_snapshot(lab_id, tmp_path) == EMPTY
        assert not (state.home / "state.json").exists()
        assert not (state.home / "agent.token").exists() and not (state.home / "nodes").exists()
        assert lab_status(chaos_home=tmp_path, lab_id=lab_id) is None
    finally:
        lab_down(chaos_home=tmp_path, lab_id=lab_id)
    assert host_snapshot(lab_id, tmp_path) == EMPTY


@as_root
def test_lab_down_cleans_up_after_a_sigkilled_supervisor(tmp_path: Path) -> None:
    lab_id = free_lab_id("nk")
    assert host_snapshot(lab_id, tmp_path) == EMPTY
    state = _start_fragile(tmp_path, lab_id)
    try:
        os.kill(state.supervisor_pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(state.supervisor_pid), timeout=5, what="supervisor dead")
        assert all(pid_alive(pid) for pid in lab_pids(state))  # orphans, still in the lab
        assert lab_status(chaos_home=tmp_path, lab_id=lab_id) is None
        lab_down(chaos_home=tmp_path, lab_id=lab_id)
        assert not any(pid_alive(pid) for pid in lab_pids(state))
        assert host_snapshot(lab_id, tmp_path) == EMPTY
        assert not (state.home / "nodes").exists()
    finally:
        lab_down(chaos_home=tmp_path, lab_id=lab_id)
    assert host_snapshot(lab_id, tmp_path) == EMPTY
