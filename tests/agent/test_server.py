"""The agent API over real HTTP: auth, apply/renew/revert, leases as a dead-man's switch,
recovery from the journal after a crash. Faults used: noop (changes nothing) and a
latency toxic on a real lab proxy link (observable, needs no root)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

from chaos.errors import AgentError
from chaos.faults import CATALOG, wire
from chaos.faults.base import FaultRequest
from chaos.host import proxyctl
from chaos.host.tcpproxy import LinkSpec, ProxyServer
from chaos.spec.models import TargetKind
from chaos.targets.base import Target
from tests.conftest import TOKEN
from tests.support import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def noop_request(fault_id: str, ttl_s: float = 30.0) -> dict:
    target = Target(kind=TargetKind.PROCESS, uid="u1", display="thing", node="n1")
    request = FaultRequest(
        fault_id=fault_id, key=fault_id, target=target, params=CATALOG["noop"].params(), ttl_s=ttl_s
    )
    return wire.request_to_json(request, fault="noop")


@pytest.fixture
def proxy():
    upstream = free_port()
    link = LinkSpec(
        name="api->store",
        listen_port=free_port(),
        upstream_host="127.0.0.1",
        upstream_port=upstream,
        client="api",
        server="store",
        server_instance="store-0",
    )
    server = ProxyServer(links=[link], control_port=free_port())
    server.start()
    yield server
    server.stop()


def latency_request(proxy: ProxyServer, fault_id: str, ttl_s: float) -> dict:
    fault = CATALOG["network-latency"]
    api = Target(
        kind=TargetKind.PROCESS,
        uid="api",
        display="api-0",
        node="n1",
        labels={"app": "api"},
        attributes={"lab_control": proxy.control_url},
    )
    request = FaultRequest(
        fault_id=fault_id, key=fault_id, target=api, params=fault.params(delay="100ms"), ttl_s=ttl_s
    )
    return wire.request_to_json(request, fault=fault.name)


def toxics(proxy: ProxyServer) -> list:
    return [t for link in proxyctl.list_links(proxy.control_url) for t in link.toxics]


def raw(url: str, *, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_apply_list_renew_revert(start_agent):
    client = start_agent().client()
    applied = client.apply(noop_request("f1"))
    assert applied["id"] == "f1" and applied["backend"] == "none"
    assert client.apply(noop_request("f1"))["id"] == "f1"  # idempotent
    assert [f["id"] for f in client.faults()] == ["f1"]
    assert client.renew(["f1", "ghost"], ttl_s=30) == {"renewed": ["f1"], "unknown": ["ghost"]}
    assert client.revert("f1")["reverted"] is True
    assert client.revert("f1")["reverted"] is False  # idempotent
    assert client.faults() == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": "Basic x"}, 401)],
)
def test_unauthenticated_requests_are_refused_and_change_nothing(
    start_agent, proxy, headers, status
):
    agent = start_agent()
    import json

    body = json.dumps(latency_request(proxy, "f1", 30)).encode()
    code, _ = raw(
        f"{agent.url}/v1/faults",
        method="POST",
        body=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert code == status
    assert toxics(proxy) == []
    assert agent.client().faults() == []
    code, _ = raw(f"{agent.url}/v1/faults", method="DELETE", headers=headers)
    assert code == status
    _, metrics = raw(f"{agent.url}/metrics")
    assert b"chaos_agent_unauthorized_requests_total 2" in metrics


def test_health_and_metrics(start_agent):
    agent = start_agent()
    assert raw(f"{agent.url}/healthz") == (200, b"ok\n")
    health = agent.client().health()
    assert health["node"] == "n1" and health["active"] == 0 and "version" in health
    agent.client().apply(noop_request("f1"))
    _, metrics = raw(f"{agent.url}/metrics")
    assert b"chaos_agent_faults_active 1" in metrics
    assert b'chaos_agent_faults_applied_total{fault="noop"} 1' in metrics
    assert TOKEN.encode() not in metrics


def test_invalid_requests_get_clear_errors(start_agent):
    client = start_agent().client()
    bad = noop_request("f1")
    bad["fault"] = "network-lag"
    with pytest.raises(AgentError, match=r"422.*unknown fault 'network-lag'"):
        client.apply(bad)
    bad = noop_request("f2", ttl_s=-1)
    with pytest.raises(AgentError, match="lease ttl"):
        client.apply(bad)
    fault = CATALOG["network-latency"]
    target = Target(kind=TargetKind.PROCESS, uid="x", display="x", node="n1")
    request = wire.request_to_json(
        FaultRequest(
            fault_id="f3", key="f3", target=target, params=fault.params(delay="1s"), ttl_s=5
        ),
        fault=fault.name,
    )
    request["params"]["delay"] = "-5ms"
    with pytest.raises(AgentError, match="invalid params: delay"):
        client.apply(request)
    assert client.faults() == []


def test_a_vanished_target_is_410_and_nothing_is_journaled(start_agent):
    client = start_agent().client()
    request = noop_request("f1")
    request["target"].update(pid=2**22, start_time=1)  # no such process (or not started then)
    with pytest.raises(AgentError, match=r"410.*gone"):
        client.apply(request)


def test_a_lease_not_renewed_is_reverted_at_expiry(start_agent, proxy):
    client = start_agent().client()
    client.apply(latency_request(proxy, "f1", ttl_s=1.0))
    assert len(toxics(proxy)) == 1
    started = time.monotonic()
    wait_for(lambda: client.faults() == [], timeout=3, what="lease expiry")
    assert time.monotonic() - started < 1.5
    assert toxics(proxy) == []


def test_renewing_keeps_the_fault(start_agent):
    client = start_agent().client()
    client.apply(noop_request("f1", ttl_s=0.6))
    for _ in range(6):
        time.sleep(0.25)
        assert client.renew(["f1"], ttl_s=0.6)["renewed"] == ["f1"]
    assert [f["id"] for f in client.faults()] == ["f1"]


def test_a_crashed_agent_reverts_its_journal_at_start_even_if_torn(start_agent, proxy, tmp_path):
    journal = tmp_path / "crash-journal"
    first = start_agent(journal)
    first.client().apply(latency_request(proxy, "f1", ttl_s=600))
    assert len(toxics(proxy)) == 1
    first.stop(revert=False)  # as if SIGKILLed: nothing reverted, the journal remains
    assert len(toxics(proxy)) == 1
    with (journal / "journal.jsonl").open("ab") as torn:  # and it died mid-write
        torn.write(b'\x00\x00garbage\n{"op": "prepared", "id": "f9", "undo": {"fau')
    second = start_agent(journal)
    assert second.client().health()["journal_corrupt_lines"] == 2
    assert toxics(proxy) == []
    assert second.client().faults() == []
    _, metrics = raw(f"{second.url}/metrics")
    assert b'chaos_agent_faults_reverted_total{reason="startup"} 1' in metrics


def test_shutdown_reverts_everything(start_agent, proxy):
    agent = start_agent()
    agent.client().apply(latency_request(proxy, "f1", ttl_s=600))
    agent.stop()
    assert toxics(proxy) == []
