"""Webhook notifications against real HTTP servers on loopback: what each receives, retries,
giving up, and that a hanging or refusing endpoint never holds up the run."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaos.controller.events import EventBus, EventKind
from chaos.controller.webhooks import WebhookNotifier, redact_url, retry_after_s
from chaos.errors import UsageError

SECRET_PATH = "/services/T0000/B0000/not-a-real-secret"
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 2.0}


class Receiver:
    """A webhook endpoint: answers from ``script`` (status, headers) in turn, then 200."""

    def __init__(self, script: list[tuple[int, dict[str, str]]] | None = None) -> None:
        self.script = list(script or [])
        self.bodies: list[dict] = []
        self.requests: list[tuple[float, str]] = []  # (when, path)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((time.monotonic(), self.path))
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                if status == 200:
                    outer.bodies.append(json.loads(body))
                answer = b"ok" if status == 200 else b"no"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Hanging:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.accepted: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}{SECRET_PATH}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver() -> Iterator:
    made: list[Receiver] = []

    def make(script: list[tuple[int, dict[str, str]]] | None = None) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    server = Hanging()
    yield server
    server.stop()


def refused_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{SECRET_PATH}"


def run_events(bus: EventBus, *, run_id: str = "run123", **verdict: object) -> None:
    bus.emit(
        EventKind.RUN_STARTED,
        run_id=run_id,
        phase=None,
        message=f"run {run_id} of store-outage",
        data={"experiment": "store-outage", "source": "experiments/store.yaml", "lab": "x"},
    )
    data = {"status": "passed", "exit_code": 0, "reasons": [], "time_to_recover_s": 2.5}
    data.update(verdict)
    bus.emit(EventKind.VERDICT, run_id=run_id, phase=None, message="", data=data)


def flat(body: dict) -> str:
    """Everything a person reading the message sees: fallback text and every block."""
    return body["text"] + "\n" + json.dumps(body["blocks"], ensure_ascii=False)


def notifier_on_bus(urls: list[str], **options: float) -> tuple[WebhookNotifier, EventBus]:
    notifier = WebhookNotifier(urls, **{**FAST, **options})
    bus = EventBus()
    bus.subscribe(notifier)
    return notifier, bus


def test_start_and_pass_are_posted_as_slack_messages(receiver):
    server = receiver()
    notifier, bus = notifier_on_bus([server.url])
    run_events(bus)
    assert notifier.close(timeout=5)
    assert bus.errors == []
    started, verdict = server.bodies
    assert [path for _, path in server.requests] == [SECRET_PATH, SECRET_PATH]
    assert "started" in started["text"] and "store-outage" in started["text"]
    assert "run123" in flat(started)
    assert set(verdict) == {"text", "blocks"}
    assert verdict["blocks"][0]["type"] == "header"
    shown = flat(verdict)
    for expected in ("PASSED", "store-outage", "run123", "2.5 s", "exit 0"):
        assert expected in shown
    assert notifier.delivered == 2 and notifier.given_up == 0


def test_failed_aborted_and_error_verdicts_carry_their_reasons(receiver):
    server = receiver()
    notifier, bus = notifier_on_bus([server.url])
    run_events(
        bus,
        run_id="fail1",
        status="failed",
        exit_code=1,
        reasons=["errors: 12% > 1% during fault"],
        time_to_recover_s=None,
        recovery={"recovered": False},
    )
    run_events(
        bus,
        run_id="abort1",
        status="aborted",
        exit_code=3,
        reasons=["operator halt (chaos halt)"],
        time_to_recover_s=None,
    )
    run_events(
        bus,
        run_id="err1",
        status="error",
        exit_code=4,
        reasons=["could not confirm revert of: network-partition on store"],
        unreverted=["network-partition on store <node-2>"],
    )
    assert notifier.close(timeout=5)
    verdicts = [body for body in server.bodies if "started" not in body["text"]]
    failed, aborted, error = (flat(body) for body in verdicts)
    assert "FAILED" in failed and "fail1" in failed and "errors: 12% &gt; 1% during fault" in failed
    assert "did not recover" in failed
    assert "ABORTED" in aborted and "operator halt (chaos halt)" in aborted
    assert "not measured" in aborted
    assert "ERROR" in error and "Not confirmed reverted" in error
    assert "&lt;node-2&gt;" in error  # escaped: Slack reads < > as markup


def test_two_500s_then_200_is_delivered_once_after_retries(receiver):
    server = receiver([(500, {}), (503, {})])
    notifier, bus = notifier_on_bus([server.url])
    bus.emit(EventKind.VERDICT, run_id="r", phase=None, data={"status": "passed", "exit_code": 0})
    assert notifier.close(timeout=5)
    assert len(server.requests) == 3
    assert len(server.bodies) == 1
    assert notifier.delivered == 1 and notifier.given_up == 0


def test_429_retry_after_is_honoured(receiver):
    server = receiver([(429, {"Retry-After": "1"})])
    notifier, bus = notifier_on_bus([server.url])
    bus.emit(EventKind.VERDICT, run_id="r", phase=None, data={"status": "passed"})
    assert notifier.close(timeout=5)
    (first, _), (second, _) = server.requests
    assert second - first >= 0.95  # the server's 1 s, not the 10-50 ms backoff
    assert notifier.delivered == 1


def test_a_4xx_is_not_retried(receiver, caplog):
    server = receiver([(404, {})])
    notifier, bus = notifier_on_bus([server.url])
    with caplog.at_level(logging.INFO, logger="chaos.controller.webhooks"):
        bus.emit(EventKind.VERDICT, run_id="r", phase=None, data={"status": "passed"})
        assert notifier.close(timeout=5)
    assert len(server.requests) == 1 and notifier.given_up == 1
    assert "HTTP 404" in caplog.text and SECRET_PATH not in caplog.text


def test_a_hanging_endpoint_never_holds_up_the_run(hanging, receiver):
    good = receiver()
    notifier, bus = notifier_on_bus([hanging.url, good.url], timeout_s=30)
    seen: list[str] = []
    bus.subscribe(lambda event: seen.append(event.kind))  # e.g. the store, after webhooks
    started = time.perf_counter()
    bus.emit(EventKind.RUN_STARTED, run_id="h", phase=None, data={"experiment": "x"})
    first = time.perf_counter() - started
    bus.emit(EventKind.VERDICT, run_id="h", phase=None, data={"status": "aborted"})
    both = time.perf_counter() - started
    assert first < 0.05 and both < 0.05, (first, both)
    assert seen == [EventKind.RUN_STARTED, EventKind.VERDICT]
    deadline = time.monotonic() + 5
    while len(good.bodies) < 2 and time.monotonic() < deadline:  # the other URL is not held
        time.sleep(0.02)
    assert len(good.bodies) == 2
    assert hanging.accepted, "the hanging endpoint was reached"
    closing = time.monotonic()
    assert notifier.close(timeout=0.5) is False  # its messages are abandoned, not waited for
    assert time.monotonic() - closing < 0.7


def test_a_refused_connection_is_retried_then_given_up_and_logged_without_the_path(caplog):
    url = refused_url()
    notifier, bus = notifier_on_bus([url], attempts=3)
    with caplog.at_level(logging.INFO, logger="chaos.controller.webhooks"):
        started = time.perf_counter()
        bus.emit(EventKind.VERDICT, run_id="refused1", phase=None, data={"status": "failed"})
        assert time.perf_counter() - started < 0.05
        assert notifier.close(timeout=5)
    assert notifier.given_up == 1 and notifier.delivered == 0
    ours = [r for r in caplog.records if "refused1" in r.getMessage()]  # not other tests' threads
    retries = [r for r in ours if "retrying" in r.getMessage()]
    gave_up = [r for r in ours if "gave up" in r.getMessage()]
    assert len(retries) == 2 and len(gave_up) == 1
    message = gave_up[0].getMessage()
    assert "after 3 attempt(s)" in message and "refused1" in message
    assert redact_url(url) in message and "Connection refused" in message
    assert SECRET_PATH not in caplog.text and "not-a-real-secret" not in caplog.text
    assert gave_up[0].levelno == logging.WARNING


def test_after_close_events_are_dropped_not_queued(receiver):
    server = receiver()
    notifier, bus = notifier_on_bus([server.url])
    assert notifier.close(timeout=1)
    bus.emit(EventKind.VERDICT, run_id="late", phase=None, data={"status": "passed"})
    assert bus.errors == [] and server.requests == []


def test_configuration_flags_over_environment():
    env = {"CHAOS_WEBHOOKS": "https://hooks.example.com/a, https://chat.example.org/b"}
    from_env = WebhookNotifier.from_env(environ=env)
    assert from_env is not None
    assert from_env.urls == ("https://hooks.example.com", "https://chat.example.org")
    flagged = WebhookNotifier.from_env(["http://127.0.0.1:9999/x"], environ=env)
    assert flagged is not None and flagged.urls == ("http://127.0.0.1:9999",)
    assert WebhookNotifier.from_env(environ={}) is None
    assert WebhookNotifier.from_env(environ={"CHAOS_WEBHOOKS": " , "}) is None
    with pytest.raises(UsageError) as bad:
        WebhookNotifier.from_env(["ftp://files.example.com/secret-token"], environ={})
    assert "secret-token" not in str(bad.value) and bad.value.exit_code == 2


def test_backoff_grows_with_jitter_up_to_its_cap_and_yields_to_retry_after():
    notifier = WebhookNotifier([], backoff_s=0.5, max_backoff_s=8)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (9, 8.0)):
        delays = {notifier.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1
    assert notifier.backoff(1, retry_after=3.0) == 3.0
    assert retry_after_s("2") == 2.0 and retry_after_s(None) is None
    assert retry_after_s("9999") == 60.0  # capped
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_s("soon") is None


def test_redact_url_keeps_scheme_host_and_port_only():
    assert redact_url("https://hooks.slack.com/services/T/B/xyz") == "https://hooks.slack.com"
    assert redact_url("http://user:pw@[::1]:8080/p?q=1") == "http://[::1]:8080"
