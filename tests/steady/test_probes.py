"""HTTP probes against a real loopback server: every failure is a failed sample with its reason."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chaos.spec.steady import ProbeSpec
from chaos.steady.probes import HttpProbe, build_probe, json_lookup

OK_DOCUMENT = {"status": "ok", "items": [{"name": "a"}]}


class Handler(BaseHTTPRequestHandler):
    """/ok JSON, /down 503, /slow?ms=N sleeps first, /text not JSON, /headers echoes X-Probe."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/ok":
            self._send(200, json.dumps(OK_DOCUMENT).encode(), "application/json")
        elif url.path == "/down":
            self._send(503, b"store unavailable", "text/plain")
        elif url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["1000"])[0]) / 1000)
            self._send(200, b'{"slow": true}', "application/json")
        elif url.path == "/text":
            self._send(200, b"<html>hello, version 1.2.3</html>", "text/html")
        elif url.path == "/headers":
            self._send(200, (self.headers.get("X-Probe") or "none").encode(), "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the probe timed out and hung up, as intended

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def probe(**http: Any) -> HttpProbe:
    return build_probe(ProbeSpec.model_validate({"name": "p", "http": http}))


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more: connections are refused
    return port


def test_a_healthy_endpoint_passes_with_status_latency_and_json(server: str) -> None:
    before = time.time()
    sample = probe(
        url=f"{server}/ok",
        status=200,
        latency="< 500",
        json={"path": "items[0].name", "equals": "a"},
    ).check()
    assert sample.ok, sample.error
    assert sample.probe == "p"
    assert sample.status == 200
    assert sample.error is None
    assert 0 < sample.latency_ms < 500
    assert before <= sample.started_at <= time.time()


def test_a_wrong_status_fails_and_says_what_was_expected(server: str) -> None:
    sample = probe(url=f"{server}/down").check()
    assert not sample.ok
    assert sample.status == 503
    assert sample.error == "status 503, expected 200"


def test_a_listed_error_status_is_accepted_and_its_body_still_checked(server: str) -> None:
    accepted = probe(url=f"{server}/down", status=[200, 503], body={"contains": "unavailable"})
    assert accepted.check().ok
    wrong_body = probe(url=f"{server}/down", status=[200, 503], body={"contains": "healthy"})
    sample = wrong_body.check()
    assert not sample.ok
    assert sample.error == "body does not contain 'healthy'"


def test_a_slow_answer_fails_the_latency_threshold(server: str) -> None:
    sample = probe(url=f"{server}/slow?ms=300", latency="< 100", timeout="2s").check()
    assert not sample.ok
    assert sample.status == 200
    assert sample.latency_ms >= 300
    assert sample.error is not None
    assert sample.error.startswith("latency ") and sample.error.endswith("ms, expected < 100")


def test_a_timeout_is_a_failed_sample_not_an_exception(server: str) -> None:
    sample = probe(url=f"{server}/slow?ms=1500", timeout="200ms").check()
    assert not sample.ok
    assert sample.status is None
    assert sample.error == "timed out after 0.2s"
    assert 200 <= sample.latency_ms < 700  # gave up at the timeout, did not wait for the answer


def test_a_closed_port_is_a_failed_sample_saying_cannot_connect() -> None:
    sample = probe(url=f"http://127.0.0.1:{closed_port()}/", timeout="1s").check()
    assert not sample.ok
    assert sample.status is None
    assert sample.error is not None and sample.error.startswith("cannot connect")
    assert "refused" in sample.error.lower()


def test_body_contains_and_regex(server: str) -> None:
    assert probe(url=f"{server}/text", body={"contains": "hello"}).check().ok
    assert probe(url=f"{server}/text", body={"regex": r"version \d+\.\d+"}).check().ok
    missing = probe(url=f"{server}/text", body={"regex": r"version 2\."}).check()
    assert not missing.ok
    assert missing.error == r"body does not match /version 2\./"


def test_json_equals_mismatch_names_path_value_and_expectation(server: str) -> None:
    sample = probe(url=f"{server}/ok", json={"path": "items[0].name", "equals": "b"}).check()
    assert not sample.ok
    assert sample.error == "JSON items[0].name = 'a', expected 'b'"


def test_json_missing_path_fails(server: str) -> None:
    sample = probe(url=f"{server}/ok", json={"path": "items[3].name"}).check()
    assert not sample.ok
    assert sample.error == "JSON items[3].name missing"


def test_json_exists_false_wants_the_path_absent(server: str) -> None:
    absent = probe(url=f"{server}/ok", json={"path": "error", "exists": False})
    assert absent.check().ok
    present = probe(url=f"{server}/ok", json={"path": "status", "exists": False}).check()
    assert not present.ok
    assert present.error == "JSON status exists, expected absent"


def test_several_json_matches_must_all_hold(server: str) -> None:
    matches = [{"path": "status", "equals": "ok"}, {"path": "items[0].name", "equals": "z"}]
    sample = probe(url=f"{server}/ok", json=matches).check()
    assert not sample.ok
    assert sample.error == "JSON items[0].name = 'a', expected 'z'"


def test_a_json_match_on_a_non_json_body_fails_cleanly(server: str) -> None:
    sample = probe(url=f"{server}/text", json={"path": "status", "equals": "ok"}).check()
    assert not sample.ok
    assert sample.status == 200
    assert sample.error == "body is not JSON"


def test_configured_headers_reach_the_server(server: str) -> None:
    sample = probe(
        url=f"{server}/headers",
        headers={"X-Probe": "chaos-probe"},
        body={"contains": "chaos-probe"},
    ).check()
    assert sample.ok, sample.error


def test_a_proxy_in_the_environment_is_not_used(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    # the trap is armed: a default urllib opener would go through the dead proxy
    with pytest.raises(urllib.error.URLError):
        urllib.request.build_opener().open(f"{server}/ok", timeout=2)

    sample = probe(url=f"{server}/ok", json={"path": "status", "equals": "ok"}).check()
    assert sample.ok, sample.error


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("status", (True, "ok")),
        ("items[0].name", (True, "a")),
        ("items[0]", (True, {"name": "a"})),
        ("items[1].name", (False, None)),
        ("items.name", (False, None)),  # a list is not indexed by name
        ("status[0]", (False, None)),  # a string is not a list
        ("nope.deeper", (False, None)),
    ],
)
def test_json_lookup(path: str, expected: tuple[bool, Any]) -> None:
    assert json_lookup(OK_DOCUMENT, path) == expected


def test_json_lookup_finds_null_values_as_present() -> None:
    assert json_lookup({"a": {"b": None}}, "a.b") == (True, None)
    assert json_lookup([[1, 2], [3]], "[1][0]") == (True, 3)
