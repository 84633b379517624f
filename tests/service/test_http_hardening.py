"""The controller service's HTTP layer under hostile clients, over raw sockets against the
real uvicorn server: slow and idle connections are cut off within their bounds, no
Content-Length trick gets a body past the cap, malformed input is a 4xx naming the field
(never a 500, never the refused value echoed), and the service answers afterwards."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import urllib.parse

import pytest

from chaos.controller.events import EventBus
from chaos.service.limits import HttpLimits
from chaos.service.server import ControllerServer
from chaos.store.repository import RunStore, sqlite_url
from tests.service.conftest import TOKEN
from tests.store.run_events import emit_sample, start_run

LIMITS = HttpLimits(
    request_read_s=1.5,
    keep_alive_s=1.0,
    response_write_s=1.0,
    send_buffer=16 * 1024,
    max_connections=12,
    concurrency=6,
    backlog=16,
)
AUTH = f"Authorization: Bearer {TOKEN}\r\n"


@pytest.fixture
def server(start_service) -> ControllerServer:
    return start_service(limits=LIMITS)


def connect(server: ControllerServer) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=10)
    return sock


def exchange(server: ControllerServer, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection; the answer's status, headers and body."""
    with connect(server) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def request(
    method: str, path: str, body: bytes | None = None, *, auth: bool = True, extra: str = ""
) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{AUTH if auth else ''}{extra}"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


def closed_within(sock: socket.socket, seconds: float, *, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock``, sending one byte of ``trickle`` every 0.25 s
    meanwhile; fails if it is still open after ``seconds``."""
    began = time.monotonic()
    sock.settimeout(0.25)
    for byte in [trickle[i : i + 1] for i in range(len(trickle))] or [b""] * 10_000:
        if time.monotonic() - began > seconds:
            break
        try:
            if byte:
                sock.sendall(byte)
            if sock.recv(4096) == b"":
                return time.monotonic() - began
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - began
    pytest.fail(f"the connection was still open after {seconds}s")


def assert_healthy(server: ControllerServer) -> None:
    status, _, body = exchange(server, request("GET", "/healthz", auth=False))
    assert (status, body) == (200, b"ok\n")


def test_headers_sent_one_byte_at_a_time_are_cut_off(server):
    with connect(server) as sock:
        slow = b"GET /v1/runs HTTP/1.1\r\nHost: test\r\nX-Padding: " + b"a" * 200
        took = closed_within(sock, LIMITS.request_read_s + 1.5, trickle=slow)
    assert took <= LIMITS.request_read_s + 1.0
    assert_healthy(server)


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server) as sock:
        assert closed_within(sock, LIMITS.request_read_s + 1.5) <= LIMITS.request_read_s + 1.0
    assert_healthy(server)


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as sock:
        sock.sendall(request("GET", "/healthz", auth=False))
        assert read_answer(sock)[0] == 200
        assert closed_within(sock, LIMITS.keep_alive_s + 1.5) <= LIMITS.keep_alive_s + 1.0


def test_a_slow_body_is_cut_off(server):
    with connect(server) as sock:
        sock.sendall(request("POST", "/v1/runs", extra="Content-Length: 100000\r\n"))
        closed_within(sock, LIMITS.request_read_s + 1.5, trickle=b"x" * 100)
    assert_healthy(server)


def test_a_chunked_body_over_the_cap_is_refused_before_it_is_all_read(server):
    chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
    sent, answer = 0, b""
    with connect(server) as sock:
        sock.sendall(
            f"POST /v1/runs HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        sock.setblocking(False)
        try:
            while sent < 10 * 1024 * 1024 and b"\r\n\r\n" not in answer:
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
                with contextlib.suppress(BlockingIOError):
                    answer += sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 10 * 1024 * 1024  # refused long before the 10 MiB were sent
    assert b"connection: close" in answer.lower()
    assert_healthy(server)


@pytest.mark.parametrize(
    ("length", "status"),
    [("-1", 400), ("abc", 400), ("99999999999999999999", 413), (str(2 << 20), 413)],
)
def test_a_bad_or_huge_content_length_is_refused_at_once(server, length, status):
    raw = f"POST /v1/runs HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Length: {length}\r\n\r\n"
    began = time.monotonic()
    assert exchange(server, raw.encode())[0] == status
    assert time.monotonic() - began < 1  # not waiting for a body that never comes
    assert_healthy(server)


def test_credentials_are_checked_before_the_body_is_read(server):
    raw = request("POST", "/v1/runs", b"{not json", auth=False)
    status, headers, _body = exchange(server, raw)
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="chaos-controller"'
    raw = request("POST", "/v1/runs", b"{}", auth=False, extra="Authorization: Bearer nope\r\n")
    assert exchange(server, raw)[0] == 403


SECRET = "hunter2-do-not-echo"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"experiment": "x", "source": f"a\u0000{SECRET}"}, 422, "body.source"),
        ({"experiment": 10**40}, 422, "body.experiment"),
        ({"experiment": [SECRET]}, 422, "body.experiment"),
        ({"experiment": "x", "surprise": SECRET}, 422, "body.surprise"),
        ({}, 422, "body.experiment"),
        ({"experiment": "x", "source": "s" * 10_000}, 422, "body.source"),
    ],
)
def test_a_body_that_does_not_fit_its_model_names_the_field(server, body, status, field):
    answer = exchange(server, request("POST", "/v1/runs", json.dumps(body).encode()))
    assert answer[0] == status, answer
    text = answer[2].decode()
    assert field in json.loads(text)["error"]
    assert SECRET not in text and "Traceback" not in text
    assert_healthy(server)


def test_json_that_does_not_parse_is_400(server):
    for raw in (b"{", b'{"experiment": ' + b"9" * 5000 + b"}", b"\xff\xfe", b"[1, 2]"):
        status, _, body = exchange(server, request("POST", "/v1/runs", raw))
        assert status in (400, 422), (raw[:20], status, body)
        assert b"Traceback" not in body
    assert_healthy(server)


def test_query_parameters_are_typed(server):
    for query in ("limit=0", "limit=abc", "limit=" + "9" * 400, "limit=1e3"):
        status, _, body = exchange(server, request("GET", f"/v1/runs?{query}"))
        assert status == 400 and "limit" in json.loads(body)["error"], (query, body)
    assert_healthy(server)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/runs/{id}"),
        ("GET", "/v1/runs/{id}/report"),
        ("POST", "/v1/runs/{id}/halt"),
        ("GET", "/v1/schedules/{id}"),
        ("POST", "/v1/schedules/{id}/pause"),
        ("DELETE", "/v1/schedules/{id}"),
    ],
)
def test_ids_of_ten_thousand_characters_are_not_found(server, method, path):
    for ident in ("a" * 10_000, urllib.parse.quote("\x00" * 100), "%ff" * 100):
        status, _, body = exchange(server, request(method, path.format(id=ident)))
        assert status == 404, (path, status, body[:200])
        assert len(body) < 200  # the id is not echoed back
    assert_healthy(server)


def test_headers_over_the_limit_are_400(server):
    with connect(server) as sock:
        sock.sendall(b"GET /v1/runs HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)
        time.sleep(0.2)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(b"\r\n\r\n")
        assert read_answer(sock)[0] == 400
    assert_healthy(server)


def open_sockets(socks: list[socket.socket]) -> int:
    """How many of ``socks`` the server has not closed."""
    time.sleep(0.3)
    still_open = 0
    for sock in socks:
        sock.settimeout(0.05)
        try:
            still_open += sock.recv(1) != b""
        except TimeoutError:
            still_open += 1
        except ConnectionResetError:
            pass
    return still_open


def test_a_flood_of_idle_connections_is_bounded_and_does_not_lock_clients_out(server):
    flood = [connect(server) for _ in range(LIMITS.max_connections + 10)]
    for sock in flood[::2]:  # half idle, half slowloris: a request that never ends
        sock.sendall(b"GET /v1/runs HTTP/1.1\r\nHost: t\r\nX-Slow: a")
    try:
        # at the cap each new connection evicts the oldest one still waiting for a
        # request, so a client that sends its request at once is served
        for _ in range(3):
            assert_healthy(server)
        assert open_sockets(flood) <= LIMITS.max_connections
    finally:
        for sock in flood:
            sock.close()


def test_requests_in_flight_are_bounded_with_503(server):
    # each of these has sent its headers and is still "sending" its body: in flight
    stalled = [connect(server) for _ in range(LIMITS.concurrency)]
    try:
        for sock in stalled:
            sock.sendall(request("POST", "/v1/runs", extra="Content-Length: 10\r\n"))
        time.sleep(0.3)
        status, _, body = exchange(server, request("GET", "/healthz", auth=False))
        assert status == 503 and b"in flight" in body
    finally:
        for sock in stalled:
            sock.close()
    time.sleep(0.3)
    assert_healthy(server)


def test_a_client_that_stops_reading_its_answer_is_disconnected(start_service, tmp_path):
    store = RunStore(sqlite_url(tmp_path / "big.db"))
    bus = EventBus()
    bus.subscribe(store.recorder())
    start_run(bus, "big1")
    for tick in range(3000):  # an answer of ~450 kB: more than every buffer on the way
        emit_sample(bus, "big1", tick)
    server = start_service(store, limits=LIMITS)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that barely reads
    sock.connect(server.address)
    with sock:
        sock.sendall(request("GET", "/v1/runs/big1"))
        time.sleep(LIMITS.response_write_s + 2)  # read nothing meanwhile
        data, sock_alive = b"", True
        sock.settimeout(2)
        while sock_alive:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            data += chunk
            sock_alive = bool(chunk)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))
        assert length > 300_000
        assert len(body) < length  # cut off: the rest of the answer was dropped
    assert_healthy(server)


def test_the_openapi_document_is_served_without_credentials(server):
    status, _headers, body = exchange(server, request("GET", "/openapi.json", auth=False))
    assert status == 200
    document = json.loads(body)
    assert {"/v1/runs", "/v1/runs/{run_id}/halt", "/v1/schedules"} <= set(document["paths"])
    assert TOKEN not in body.decode()
