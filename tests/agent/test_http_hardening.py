"""The agent's HTTP layer under hostile clients, over raw sockets on loopback against the
real agent (service, journal, server): slow and idle connections are cut at their
deadlines, floods cannot lock out a health check or grow threads, bodies are capped
whatever the headers claim, and no answer is a 5xx or an exception's repr."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from chaos.agent.certs import Role, init_ca, issue
from chaos.agent.http import Auth, HttpLimits, JsonHandler, JsonServer
from chaos.agent.journal import UndoJournal
from chaos.agent.scope import ScopePolicy
from chaos.agent.server import AgentServer
from chaos.agent.service import AgentService
from chaos.faults import CATALOG
from chaos.faults.base import HostContext
from chaos.host.tls import server_context
from tests.agent.test_server import noop_request
from tests.conftest import TOKEN

AUTH = f"Authorization: Bearer {TOKEN}\r\n"
# short deadlines so that each is measured in about a second
FAST = {"idle_timeout_s": 1.0, "head_timeout_s": 1.0, "body_timeout_s": 1.0}


class Agent:
    def __init__(self, server: AgentServer) -> None:
        self.server = server
        self.port = server.server_port

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def ask(self, data: bytes, timeout: float = 5.0) -> tuple[int, dict, bytes]:
        with self.connect(timeout) as sock:
            sock.sendall(data)
            return read_answer(sock)

    def healthz_seconds(self) -> float:
        started = time.monotonic()
        status, _, body = self.ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        assert (status, body) == (200, b"ok\n")
        return time.monotonic() - started


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, dict(response.getheaders()), response.read()


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``sock`` (reading whatever it sent first)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


@pytest.fixture
def agent(tmp_path) -> Iterator:
    servers: list[AgentServer] = []

    def start(**limits: float) -> Agent:
        service = AgentService(
            node="n1",
            journal=UndoJournal(tmp_path / f"journal{len(servers)}"),
            catalog=CATALOG,
            host=HostContext(node="n1", capabilities={}),
            scope=ScopePolicy(node=True),  # its noop faults target no process
        )
        service.start()
        server = AgentServer(
            ("127.0.0.1", 0), service=service, auth=Auth(token=TOKEN), limits=HttpLimits(**limits)
        )
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return Agent(server)

    yield start
    for server in servers:
        server.shutdown()
        server.service.shutdown()
        server.server_close()


def post(path: str, body: bytes, *, headers: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: application/json\r\n"
    return (head + headers + "\r\n").encode() + body


# ------------------------------------------------------------------ deadlines


def test_a_client_trickling_its_head_is_cut_at_the_head_deadline(agent):
    running = agent(**FAST)
    sock = running.connect()
    started = time.monotonic()
    sock.setblocking(False)
    closed = False
    for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
        try:
            sock.send(bytes([byte]))
            if sock.recv(4096, socket.MSG_DONTWAIT) == b"":
                closed = True
        except BlockingIOError:
            pass
        except OSError:
            closed = True
        if closed:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    assert closed, "the server kept a trickling client"
    assert 0.9 <= elapsed <= 2.5  # head deadline 1 s (+ loop tick and a busy machine)
    assert running.healthz_seconds() < 1.0


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(agent):
    running = agent(**FAST)
    with running.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(sock)[0] == 200
        assert 0.9 <= closed_within(sock, 4) <= 2.5
    with running.connect() as silent:  # never sends a byte
        assert 0.9 <= closed_within(silent, 4) <= 2.5


def test_a_body_that_stops_short_is_cut_with_408(agent):
    running = agent(**FAST)
    with running.connect() as sock:
        sock.sendall(post("/v1/faults", b'{"id": "f1"', headers="Content-Length: 1000\r\n"))
        started = time.monotonic()
        status, _, body = read_answer(sock)
        assert status == 408 and b"timed out" in body
        assert 0.9 <= time.monotonic() - started <= 2.5
    assert running.server.service.list_active() == []


# ------------------------------------------------------------------ body framing


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ("Content-Length: -1\r\n", 400, b"decimal"),
        ("Content-Length: abc\r\n", 400, b"decimal"),
        ("Content-Length: 1e9\r\n", 400, b"decimal"),
        ("Content-Length: +20\r\n", 400, b"decimal"),
        ("Content-Length: 0x10\r\n", 400, b"decimal"),
        ("Content-Length: 20\r\nContent-Length: 21\r\n", 400, b"conflicting"),
        ("Content-Length: 2000000\r\n", 413, b"at most 1048576 bytes"),
        ("Content-Length: 99999999999999999999\r\n", 400, b"decimal"),
        ("Transfer-Encoding: chunked\r\n", 411, b"Content-Length"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 411, b"Content-Length"),
    ],
)
def test_a_body_length_that_cannot_be_trusted_is_refused_and_the_connection_closed(
    agent, headers, status, words
):
    running = agent()
    request = json.dumps(noop_request("f1")).encode()
    with running.connect() as sock:
        sock.sendall(post("/v1/faults", request, headers=headers))
        code, answer_headers, body = read_answer(sock)
        assert (code, answer_headers.get("Connection")) == (status, "close")
        assert words in body
        assert closed_within(sock, 2) < 1  # nothing after a body of unknown end is read
    assert running.server.service.list_active() == []
    assert running.healthz_seconds() < 1.0


def test_a_post_without_a_length_has_an_empty_body(agent):
    running = agent()
    status, _, body = running.ask(post("/v1/leases/renew", b""))
    assert status == 400 and json.loads(body) == {"error": "ids: a list of at most 1000 fault ids"}


def test_two_pipelined_requests_get_two_answers(agent):
    running = agent()
    renew = json.dumps({"ids": [], "ttl_s": 5}).encode()
    one = post("/v1/leases/renew", renew, headers=f"Content-Length: {len(renew)}\r\n")
    with running.connect() as sock:
        sock.sendall(one + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        # read raw: both answers may arrive in one segment
        answers = b""
        while answers.count(b"HTTP/1.1 200 OK") < 2 or not answers.endswith(b"ok\n"):
            chunk = sock.recv(4096)
            assert chunk, f"closed after {answers!r}"
            answers += chunk
        first, second = answers.split(b"HTTP/1.1 200 OK")[1:]
        assert b'"renewed": []' in first and second.endswith(b"\r\n\r\nok\n")


def test_bodies_held_at_once_have_a_budget(agent):
    running = agent(max_buffered_bytes=1000)
    first = running.connect()
    first.sendall(post("/v1/faults", b"{", headers="Content-Length: 800\r\n"))
    time.sleep(0.2)  # the first body's 800 bytes are reserved
    status, headers, _ = running.ask(post("/v1/faults", b"{", headers="Content-Length: 800\r\n"))
    assert status == 503 and headers.get("Retry-After") == "1"
    first.close()
    time.sleep(0.2)  # released with the connection
    status, _, body = running.ask(post("/v1/faults", b"[]", headers="Content-Length: 2\r\n"))
    assert status == 400 and b"JSON object" in body


# ------------------------------------------------------------------ floods


def test_a_flood_of_idle_connections_neither_blocks_healthz_nor_grows_threads(agent):
    running = agent()
    threads_before = threading.active_count()
    flood = [running.connect() for _ in range(500)]
    try:
        time.sleep(0.3)
        assert running.healthz_seconds() < 1.0
        # the agent runs in this process: its threads are the loop, and at most 8 workers
        assert threading.active_count() <= threads_before + 8
        assert running.server.connection_stats()["connections"] <= 256
        body = json.dumps(noop_request("f1")).encode()
        request = post("/v1/faults", body, headers=f"Content-Length: {len(body)}\r\n")
        assert running.ask(request)[0] == 201  # the controller still gets through
    finally:
        for sock in flood:
            sock.close()


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"POST /v1/faults HTTP/1.1\r\nHost: x\r\nX-Slow: a",  # a head never finished
        b"POST /v1/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{",  # a body
    ],
)
def test_a_flood_of_slow_clients_cannot_block_healthz(agent, first_bytes):
    running = agent(max_connections=64)
    flood = []
    try:
        for _ in range(200):
            sock = running.connect()
            sock.sendall(first_bytes)
            flood.append(sock)
        time.sleep(0.3)
        for _ in range(5):
            assert running.healthz_seconds() < 1.0
        assert running.server.connection_stats()["connections"] <= 64
    finally:
        for sock in flood:
            sock.close()


# ------------------------------------------------------------------ heads


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\n" + b"X-H: v\r\n" * 150 + b"\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /healthz HTTP/2.0\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1 extra words\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"PUT /v1/faults HTTP/1.1\r\n\r\n", 405),
        (b"BREW /v1/faults HTTP/1.1\r\n\r\n", 405),
        (b"GET /nowhere HTTP/1.1\r\n\r\n", 404),
    ],
)
def test_malformed_heads_get_a_4xx_and_the_agent_stays_up(agent, request_bytes, status):
    running = agent()
    code, _, body = running.ask(request_bytes)
    assert code == status
    assert json.loads(body)["error"]
    assert running.healthz_seconds() < 1.0


# ------------------------------------------------------------------ JSON and ids


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than 32 levels"),
        (b'{"ttl_s": NaN}', "NaN"),
        (b'{"ttl_s": 1' + b"0" * 5000 + b"}", "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON"),
        (b'"a string"', "JSON object"),
        (b"{,}", "invalid JSON"),
    ],
)
def test_hostile_json_is_400_naming_the_problem(agent, body, words):
    running = agent()
    request = post("/v1/faults", body, headers=f"Content-Length: {len(body)}\r\n")
    status, _, answer = running.ask(request)
    assert status == 400 and words in json.loads(answer)["error"]


@pytest.mark.parametrize(
    ("request_bytes", "field"),
    [
        (
            b"DELETE /v1/faults/" + b"a" * 10_000 + b" HTTP/1.1\r\n" + AUTH.encode() + b"\r\n",
            "fault id",
        ),
        (b"DELETE /v1/faults/..%2F..%2Fetc HTTP/1.1\r\n" + AUTH.encode() + b"\r\n", "fault id"),
        (b"DELETE /v1/faults/f%0a1 HTTP/1.1\r\n" + AUTH.encode() + b"\r\n", "fault id"),
        (b"DELETE /v1/faults/f%001 HTTP/1.1\r\n" + AUTH.encode() + b"\r\n", "fault id"),
    ],
)
def test_a_bad_fault_id_in_the_path_is_400_naming_it(agent, request_bytes, field):
    running = agent()
    status, _, body = running.ask(request_bytes)
    assert status == 400 and json.loads(body)["error"].startswith(field)


@pytest.mark.parametrize("fault_id", ["x" * 129, "a\x00b", "../etc", "", 7, None])
def test_a_fault_that_could_not_be_reverted_by_its_id_is_not_applied(agent, fault_id):
    running = agent()
    request = {**noop_request("f1"), "id": fault_id}
    body = json.dumps(request).encode()
    status, _, answer = running.ask(
        post("/v1/faults", body, headers=f"Content-Length: {len(body)}\r\n")
    )
    assert status == 422 and "id:" in json.loads(answer)["error"]
    assert running.server.service.list_active() == []


@pytest.mark.parametrize(
    ("renew", "field"),
    [
        ({"ids": [1], "ttl_s": 5}, "ids[0]"),
        ({"ids": ["ok", "x" * 500], "ttl_s": 5}, "ids[1]"),
        ({"ids": ["a\x00b"], "ttl_s": 5}, "ids[0]"),
        ({"ids": "f1", "ttl_s": 5}, "ids"),
        ({"ids": ["f1"] * 1001, "ttl_s": 5}, "ids"),
        ({"ids": ["f1"], "ttl_s": "abc"}, "ttl_s"),
        ({"ids": ["f1"], "ttl_s": True}, "ttl_s"),
        ({"ids": ["f1"]}, "ttl_s"),
    ],
)
def test_a_bad_renewal_is_400_naming_the_field(agent, renew, field):
    running = agent()
    body = json.dumps(renew).encode()
    request = post("/v1/leases/renew", body, headers=f"Content-Length: {len(body)}\r\n")
    status, _, answer = running.ask(request)
    assert status == 400 and json.loads(answer)["error"].startswith(field + ":")


class _Buggy(JsonHandler):
    def crash(self, body, _):
        raise RuntimeError("secret-value /etc/shadow")


_Buggy.routes = {("GET", "/crash"): _Buggy.crash}


def test_a_bug_in_a_route_answers_a_generic_500_without_its_repr():
    server = JsonServer(("127.0.0.1", 0), _Buggy, auth=Auth(token=None))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as sock:
            sock.sendall(b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = read_answer(sock)
        assert status == 500
        assert json.loads(body) == {"error": "internal error; see the server's log"}
    finally:
        server.shutdown()
        server.server_close()


def test_a_tls_client_that_never_finishes_its_handshake_is_cut(tmp_path):
    directory = tmp_path / "certs"
    init_ca(directory)
    files = issue(directory, name="node-1", role=Role.AGENT, hosts=["127.0.0.1"])
    context = server_context(cert=files.cert, key=files.key, ca=directory / "ca.crt")
    server = JsonServer(
        ("127.0.0.1", 0),
        _Buggy,
        auth=Auth(client_role="controller"),
        ssl_context=context,
        limits=HttpLimits(handshake_timeout_s=1.0),
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then nothing
            assert 0.9 <= closed_within(sock, 4) <= 2.5
        assert server.connection_stats()["connections"] == 0
    finally:
        server.shutdown()
        server.server_close()


def test_a_bug_in_the_agent_says_where_to_look_and_nothing_else(agent, monkeypatch):
    running = agent()

    def broken() -> list:
        raise KeyError("CHAOS_AGENT_TOKEN=" + TOKEN)

    monkeypatch.setattr(running.server.service, "list_active", broken)
    status, _, body = running.ask(f"GET /v1/faults HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
    assert status == 500
    assert json.loads(body) == {"error": "internal error; see the agent's log"}
    assert running.healthz_seconds() < 1.0


def test_keep_alive_requests_do_not_wait_for_delayed_acks(agent):
    running = agent()
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
    started = time.monotonic()
    for _ in range(50):  # 40 ms each when head and body left in two segments
        connection.request("GET", "/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert connection.getresponse().read()
    connection.close()
    assert time.monotonic() - started < 1.0
