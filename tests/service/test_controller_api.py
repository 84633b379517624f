"""The controller service's HTTP API over a real socket and a real SQLite store, and
``chaos controller serve`` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chaos.controller.events import EventBus
from chaos.service.server import ControllerServer
from chaos.store.repository import RunStore, sqlite_url
from tests.service.conftest import TOKEN
from tests.store.run_events import full_run, start_run


@pytest.fixture
def server(tmp_path: Path, start_service) -> ControllerServer:
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    bus = EventBus()
    bus.subscribe(store.recorder())
    for run_id in ("aaa111", "bbb222"):
        full_run(bus, run_id)
        time.sleep(0.01)  # distinct start times: newest first is well defined
    start_run(bus, "ccc333")
    return start_service(store)


def get(server: ControllerServer, path: str, *, token: str | None = TOKEN) -> tuple[int, bytes]:
    request = urllib.request.Request(server.url + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_health_and_metrics_need_no_credentials_and_count_runs_by_status(server):
    assert get(server, "/healthz", token=None) == (200, b"ok\n")
    status, body = get(server, "/metrics", token=None)
    assert status == 200
    text = body.decode()
    assert 'chaos_runs{status="passed"} 2' in text
    assert 'chaos_runs{status="running"} 1' in text
    assert "chaos_controller_requests_unauthorized_total 0" in text


def test_runs_need_the_token_and_list_newest_first(server):
    assert get(server, "/v1/runs", token=None)[0] == 401
    assert get(server, "/v1/runs", token="wrong")[0] == 403
    status, body = get(server, "/v1/runs?limit=2")
    assert status == 200
    runs = json.loads(body)["runs"]
    assert [run["id"] for run in runs] == ["ccc333", "bbb222"]
    status, body = get(server, "/metrics", token=None)
    assert "chaos_controller_requests_unauthorized_total 2" in body.decode()


def test_one_run_by_prefix_with_its_events_and_clear_errors(server):
    status, body = get(server, "/v1/runs/aaa")
    assert status == 200
    answer = json.loads(body)
    assert answer["run"]["id"] == "aaa111"
    assert answer["run"]["status"] == "passed"
    assert answer["events"]
    assert get(server, "/v1/runs/zzz")[0] == 404
    assert get(server, "/v1/runs?limit=0")[0] == 400
    assert get(server, "/v1/nothing")[0] == 404


def test_health_fails_when_the_store_does_not_answer(server, tmp_path):
    server.store.close()
    (tmp_path / "runs.db").unlink()
    (tmp_path / "runs.db").mkdir()  # the store path is now a directory: SQLite cannot open it
    status, body = get(server, "/healthz", token=None)
    assert status == 503
    assert b"run store unavailable" in body


def test_serve_command_answers_and_stops_on_sigterm(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    env = {**os.environ, "CHAOS_HOME": str(tmp_path)}
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos",
            "controller",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--token-file",
            str(token_file),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as a:
                    assert a.read() == b"ok\n"
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "the controller service never answered"
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_to_start_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CHAOS_CONTROLLER_TOKEN"}
    env["CHAOS_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "chaos", "controller", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "needs credentials" in done.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_runs_report_in_every_format_and_bad_queries_refused(server):
    kinds = {
        "json": "application/json",
        "junit": "application/xml; charset=utf-8",
        "markdown": "text/markdown; charset=utf-8",
        "html": "text/html; charset=utf-8",
    }
    for fmt, content_type in kinds.items():
        request = urllib.request.Request(f"{server.url}/v1/runs/bbb/report?format={fmt}")
        request.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == content_type
            text = answer.read().decode()
        assert "bbb222" in text, fmt
    status, body = get(server, "/v1/runs/bbb222/report?compare_to=latest-pass")
    assert status == 200
    comparison = json.loads(body)["comparison"]
    assert comparison["against"]["run_id"] == "aaa111"  # the passed run before it
    assert get(server, "/v1/runs/bbb222/report", token=None)[0] == 401
    assert get(server, "/v1/runs/nope/report")[0] == 404
    assert get(server, "/v1/runs/bbb222/report?format=pdf")[0] == 400
    assert get(server, "/v1/runs/bbb222/report?margin=lots")[0] == 400
    assert get(server, "/v1/runs/bbb222/report?compare_to=nope")[0] == 400
    # a file on the controller's disk cannot be named as the earlier run
    status, body = get(server, "/v1/runs/bbb222/report?compare_to=/etc/passwd")
    assert status == 400 and b"root:" not in body
    assert get(server, "/v1/runs/bbb222/surprise")[0] == 404
