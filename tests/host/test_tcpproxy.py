"""The TCP proxy with real sockets on loopback: pass-through, latency, partitions, TTLs, API."""

from __future__ import annotations

import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Iterator

import pytest

from chaos.errors import HostError
from chaos.host import proxyctl
from chaos.host.tcpproxy import LinkSpec, ProxyServer

LINK = "client->echo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[tuple[ProxyServer, int]]:
    listen = free_port()
    spec = LinkSpec(LINK, listen, "127.0.0.1", echo_port, "client", "echo", "echo-0")
    dead = LinkSpec("client->dead", free_port(), "127.0.0.1", free_port(), "client", "dead", "d-0")
    server = ProxyServer(links=[spec, dead], control_port=free_port())
    server.start()
    try:
        yield server, listen
    finally:
        server.stop()


def connect(port: int, *, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the echo came back"
        received += chunk
    assert received == payload
    return time.perf_counter() - start


def median_rtt(port: int, *, samples: int = 7) -> float:
    with connect(port) as sock:
        return statistics.median(round_trip(sock) for _ in range(samples))


def test_pass_through_and_listing(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    with connect(port) as sock:
        round_trip(sock, b"hello" * 1000)
    assert proxyctl.health(server.control_url)
    links = {link.name: link for link in proxyctl.list_links(server.control_url)}
    assert links[LINK].listen_port == port
    assert (links[LINK].client, links[LINK].server, links[LINK].toxics) == ("client", "echo", ())


def test_latency_adds_the_injected_delay(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    baseline = median_rtt(port)
    toxic = {"type": "latency", "delay_ms": 100, "jitter_ms": 0}
    proxyctl.put_toxic(server.control_url, link=LINK, toxic_id="lat", toxic=toxic, ttl_s=None)
    added_ms = (median_rtt(port) - baseline) * 1000
    assert 85 <= added_ms <= 115, added_ms


def test_jitter_stays_within_bounds(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    toxic = {"type": "latency", "delay_ms": 50, "jitter_ms": 20}
    proxyctl.put_toxic(server.control_url, link=LINK, toxic_id="lat", toxic=toxic, ttl_s=None)
    with connect(port) as sock:
        rtts_ms = [round_trip(sock) * 1000 for _ in range(12)]
    assert all(29 <= rtt <= 85 for rtt in rtts_ms), rtts_ms
    assert max(rtts_ms) - min(rtts_ms) > 3, "jitter should vary the delay"


def test_drop_partition_blackholes_until_removed(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    existing = connect(port, timeout=0.4)
    fresh = None
    try:
        round_trip(existing)
        toxic = {"type": "partition", "mode": "drop"}
        proxyctl.put_toxic(server.control_url, link=LINK, toxic_id="p", toxic=toxic, ttl_s=None)
        existing.sendall(b"lost?")
        with pytest.raises(TimeoutError):
            existing.recv(100)
        fresh = connect(port, timeout=0.4)  # accepted, like a blackholed route would
        fresh.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            fresh.recv(100)
        assert proxyctl.delete_toxic(server.control_url, link=LINK, toxic_id="p")
        existing.settimeout(2)
        assert existing.recv(100) == b"lost?"  # held, not lost: the link heals
        fresh.settimeout(2)
        assert fresh.recv(100) == b"anyone?"
    finally:
        existing.close()
        if fresh is not None:
            fresh.close()


def test_reject_partition_fails_fast(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    existing = connect(port)
    try:
        round_trip(existing)
        toxic = {"type": "partition", "mode": "reject"}
        proxyctl.put_toxic(server.control_url, link=LINK, toxic_id="p", toxic=toxic, ttl_s=None)
        start = time.perf_counter()
        with pytest.raises(OSError), connect(port) as sock:
            sock.sendall(b"x")
            if sock.recv(100) == b"":
                raise ConnectionResetError("closed")
        with pytest.raises(OSError):
            if existing.recv(100) == b"":
                raise ConnectionResetError("closed")
        assert time.perf_counter() - start < 0.5
    finally:
        existing.close()


def test_upstream_refused_closes_the_client(proxy: tuple[ProxyServer, int]) -> None:
    server, _ = proxy
    dead = next(link for link in proxyctl.list_links(server.control_url) if link.server == "dead")
    with pytest.raises(OSError), connect(dead.listen_port) as sock:
        sock.sendall(b"x")
        if sock.recv(100) == b"":
            raise ConnectionResetError("closed")


def test_ttl_removes_the_toxic_by_itself(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    toxic = {"type": "partition", "mode": "drop"}
    proxyctl.put_toxic(server.control_url, link=LINK, toxic_id="p", toxic=toxic, ttl_s=0.3)
    (listed,) = next(x for x in proxyctl.list_links(server.control_url) if x.name == LINK).toxics
    assert 0 < listed["expires_in_s"] <= 0.3
    time.sleep(0.5)
    assert all(not link.toxics for link in proxyctl.list_links(server.control_url))
    with connect(port) as sock:
        round_trip(sock)


def test_put_and_delete_are_idempotent(proxy: tuple[ProxyServer, int]) -> None:
    server, _ = proxy
    url = server.control_url
    for delay in (10, 20):
        toxic = {"type": "latency", "delay_ms": delay}
        proxyctl.put_toxic(url, link=LINK, toxic_id="lat", toxic=toxic, ttl_s=None)
    (toxic,) = next(x for x in proxyctl.list_links(url) if x.name == LINK).toxics
    assert toxic["delay_ms"] == 20
    assert proxyctl.delete_toxic(url, link=LINK, toxic_id="lat") is True
    assert proxyctl.delete_toxic(url, link=LINK, toxic_id="lat") is False
    proxyctl.put_toxic(url, link=LINK, toxic_id="a", toxic={"type": "partition"}, ttl_s=5)
    proxyctl.put_toxic(url, link="client->dead", toxic_id="b", toxic=toxic, ttl_s=None)
    assert proxyctl.delete_all_toxics(url) == 2
    assert proxyctl.delete_all_toxics(url) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "flood"},
        {"type": "latency", "delay_ms": -5},
        {"type": "latency"},
        {"type": "partition", "mode": "sometimes"},
        {"type": "latency", "delay_ms": 5, "ttl_s": "soon"},
    ],
)
def test_bad_toxic_is_rejected_and_changes_nothing(
    proxy: tuple[ProxyServer, int], bad: dict[str, object]
) -> None:
    server, _ = proxy
    url = server.control_url
    good = {"type": "latency", "delay_ms": 7}
    proxyctl.put_toxic(url, link=LINK, toxic_id="t", toxic=good, ttl_s=None)
    before = proxyctl.list_links(url)
    ttl = bad.pop("ttl_s", None)
    with pytest.raises(HostError, match="400"):
        proxyctl.put_toxic(url, link=LINK, toxic_id="t", toxic=bad, ttl_s=ttl)  # type: ignore[arg-type]
    after = proxyctl.list_links(url)
    assert [x.toxics[0]["delay_ms"] for x in after if x.toxics] == [7]
    assert len(before) == len(after)


def test_unknown_link_is_404_and_unreachable_proxy_is_host_error(
    proxy: tuple[ProxyServer, int],
) -> None:
    server, _ = proxy
    with pytest.raises(HostError, match="404") as caught:
        proxyctl.put_toxic(
            server.control_url, link="nope->x", toxic_id="t", toxic={"type": "partition"}, ttl_s=1
        )
    assert "nope->x" in str(caught.value)
    with pytest.raises(HostError, match="404"):
        proxyctl.delete_toxic(server.control_url, link="nope->x", toxic_id="t")
    closed = f"http://127.0.0.1:{free_port()}"
    assert proxyctl.health(closed) is False
    with pytest.raises(HostError, match=closed) as caught:
        proxyctl.list_links(closed)
    assert caught.value.__cause__ is not None
