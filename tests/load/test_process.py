"""Locust as a subprocess: real Locust processes against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chaos.errors import LoadError
from chaos.load.argv import remote_worker_argv
from chaos.load.process import LoadProcess, LoadReady
from chaos.load.stats import LoadWindow, merge_windows, percentile_ms
from chaos.spec.load import LoadSpec
from tests.support import free_base_port, http_server, pid_alive, wait_for

# ---------------------------------------------------------------- a real server on loopback


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real service
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):  # spread latencies out for the percentile check
            time.sleep(random.uniform(0.0005, 0.012))
        status = 503 if self.path.startswith("/fail") else 200
        body = b"unavailable" if status == 503 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # Locust drops connections mid-request when it stops: expected here


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with http_server(Handler, QuietServer) as url:
        yield url


# ---------------------------------------------------------------- running load


@dataclass
class Run:
    process: LoadProcess
    raw_dir: Path
    windows: list[tuple[float, LoadWindow]] = field(default_factory=list)  # (arrived, window)
    failures: list[str] = field(default_factory=list)

    def per_second(self) -> dict[int, LoadWindow]:
        """Windows merged by second (late data for a second comes as another line)."""
        by_second: dict[int, list[LoadWindow]] = defaultdict(list)
        for _, window in self.windows:
            by_second[window.second].append(window)
        return {second: merge_windows(parts) for second, parts in sorted(by_second.items())}

    def total(self) -> LoadWindow:
        return merge_windows(window for _, window in self.windows)

    def raw_requests(self, pid: int | None = None) -> list[tuple[float, float, bool]]:
        pattern = f"requests-{pid}.jsonl" if pid else "requests-*.jsonl"
        return [
            tuple(json.loads(line))
            for path in self.raw_dir.glob(pattern)
            for line in path.read_text().splitlines()
        ]


@pytest.fixture
def start_load(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(spec: dict[str, Any], *, experiment_dir: Path | None = None) -> Run:
        index = len(runs)
        raw_dir = tmp_path / f"raw-{index}"
        windows: list[tuple[float, LoadWindow]] = []
        failures: list[str] = []
        process = LoadProcess(
            LoadSpec.model_validate(spec),
            experiment_dir=experiment_dir or tmp_path,
            workdir=tmp_path / f"work-{index}",
            on_window=lambda window: windows.append((time.time(), window)),
            on_failure=failures.append,
            raw_log_dir=raw_dir,
        )
        run = Run(process, raw_dir, windows, failures)
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.process.stop()
        leftovers = [pid for run in runs for pid in run.process.pids if pid_alive(pid)]
        assert not leftovers, f"Locust processes left running: {leftovers}"


def steady_seconds(run: Run, ready: LoadReady, stopped_at: float) -> list[LoadWindow]:
    """Windows of whole seconds between readiness and stop (no ramp-up, no shutdown)."""
    return [
        window
        for second, window in run.per_second().items()
        if second >= ready.started_at and second + 1 <= stopped_at
    ]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Fraction(str(q)) * len(ordered) / 100)) - 1]


# ---------------------------------------------------------------- real runs


def test_standalone_streams_every_second_as_it_closes(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    run = start_load({"host": server_url, "tasks": [{"path": "/"}], "users": 2, "wait": "20ms"})
    ready = run.process.start()
    assert (ready.users, ready.workers) == (2, 0)
    time.sleep(3.2)
    stopped_at = time.time()
    run.process.stop()

    seconds = [window.second for _, window in run.windows]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), "one line per second"
    steady = steady_seconds(run, ready, stopped_at)
    assert len(steady) >= 2
    assert all(window.requests > 0 and window.users == 2 for window in steady)
    for arrived, window in run.windows[:-1]:  # the last one is the partial second of the stop
        assert arrived <= window.second + 1.5, f"second {window.second} came {arrived:.2f}"
    assert run.total().requests == len(run.raw_requests()) > 0
    assert run.failures == []


def test_builtin_tasks_count_unexpected_statuses_as_failures(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    tasks = [
        {"path": "/fail", "status": 503, "name": "expected-503"},
        {"path": "/fail", "name": "unexpected-503"},  # status: 200 by default
    ]
    run = start_load({"host": server_url, "tasks": tasks, "users": 2, "wait": "20ms"})
    run.process.start()
    time.sleep(2.0)
    run.process.stop()

    total = run.total()
    assert 0.25 < total.failures / total.requests < 0.75
    assert dict(total.errors) == {"status 503, expected 200": total.failures}
    raw = run.raw_requests()
    assert (len(raw), sum(not ok for _, _, ok in raw)) == (total.requests, total.failures)


def test_local_workers_are_merged_per_second(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    run = start_load(
        {"host": server_url, "tasks": [{"path": "/"}], "users": 4, "wait": "20ms", "workers": 2}
    )
    ready = run.process.start()
    assert (ready.users, ready.workers) == (4, 2)
    time.sleep(3.0)
    stopped_at = time.time()
    run.process.stop()

    master, *workers = run.process.pids
    assert len(workers) == 2
    per_worker = [len(run.raw_requests(pid)) for pid in workers]
    assert all(count > 0 for count in per_worker), per_worker
    assert not run.raw_requests(master)
    assert run.total().requests == sum(per_worker)
    steady = steady_seconds(run, ready, stopped_at)
    assert steady and all(window.users == 4 for window in steady)
    assert run.failures == []


def test_a_stalled_worker_holds_no_second_back_beyond_the_grace(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    run = start_load(
        {"host": server_url, "tasks": [{"path": "/"}], "users": 4, "wait": "20ms", "workers": 2}
    )
    run.process.start()
    stalled = run.process.pids[1]
    time.sleep(1.3 - time.time() % 1)  # 0.3 s into a second: the worker has data for it
    stalled_second = int(time.time())
    os.kill(stalled, signal.SIGSTOP)  # the worker cannot report, but stays connected
    try:
        time.sleep(1.7)
    finally:
        os.kill(stalled, signal.SIGCONT)
    time.sleep(1.5)
    run.process.stop()

    first_lines: dict[int, tuple[float, LoadWindow]] = {}
    for arrived, window in run.windows:
        first_lines.setdefault(window.second, (arrived, window))
    arrived, _ = first_lines[stalled_second]
    assert arrived <= stalled_second + 1 + 0.5 + 0.4, "the grace bounds the wait"
    late = [w for _, w in run.windows if w.second == stalled_second][1:]
    assert late and all(w.requests > 0 and w.users is None for w in late), "late data is sent"
    assert run.total().requests == len(run.raw_requests()), "nothing is lost"
    assert run.failures == []


def start_remote_worker(run: Run, port: int, directory: Path) -> subprocess.Popen[bytes]:
    """The documented worker command, run "elsewhere": it gets the locustfile from the master."""
    directory.mkdir()
    env = {**os.environ, "CHAOS_LOAD_RAW_LOG": str(run.raw_dir), "TMPDIR": str(directory)}
    with (directory / "worker.log").open("wb") as log:
        return subprocess.Popen(
            remote_worker_argv("127.0.0.1", port, python=sys.executable),
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def with_remote_worker(
    server_url: str, start_load: Callable[..., Run], tmp_path: Path
) -> tuple[Run, subprocess.Popen[bytes]]:
    """A master expecting one remote worker, and that worker started the documented way."""
    port = free_base_port(1)
    run = start_load(
        {
            "host": server_url,
            "tasks": [{"path": "/"}],
            "users": 2,
            "wait": "20ms",
            "remoteWorkers": 1,
            "masterBind": f"127.0.0.1:{port}",
        }
    )
    return run, start_remote_worker(run, port, tmp_path / "elsewhere")


def test_remote_worker_attaches_with_the_documented_command(
    server_url: str, start_load: Callable[..., Run], tmp_path: Path
) -> None:
    run, worker = with_remote_worker(server_url, start_load, tmp_path)
    try:
        ready = run.process.start()
        assert (ready.users, ready.workers) == (2, 1)
        time.sleep(2.0)
        run.process.stop()
        worker.wait(timeout=10)  # the master told it to quit
        assert run.total().requests == len(run.raw_requests(worker.pid)) > 0
        assert run.failures == []
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_lost_remote_worker_is_reported(
    server_url: str, start_load: Callable[..., Run], tmp_path: Path
) -> None:
    run, worker = with_remote_worker(server_url, start_load, tmp_path)
    try:
        run.process.start()
        worker.kill()  # SIGKILL: it cannot say goodbye; the master notices missing heartbeats
        worker.wait()
        wait_for(lambda: run.failures, timeout=10, what="the lost worker to be reported")
        assert len(run.failures) == 1
        assert run.failures[0].startswith(
            "Locust reported: Locust workers lost: 0 of 1 still connected"
        )
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_waiting_for_remote_workers_times_out_with_the_command_to_start_them(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    port = free_base_port(1)
    run = start_load(
        {
            "host": server_url,
            "tasks": [{"path": "/"}],
            "remoteWorkers": 1,
            "masterBind": f"127.0.0.1:{port}",
            "readyTimeout": "1500ms",
        }
    )
    with pytest.raises(LoadError) as caught:
        run.process.start()
    message = str(caught.value)
    assert "did not report all 10 users running within 1.5s" in message
    assert (
        f"python -m chaos.load.main --worker --master-host <this host> --master-port {port} -f -"
        in message
    )
    assert not any(pid_alive(pid) for pid in run.process.pids)


def test_a_locustfile_that_fails_to_import_is_reported_and_nothing_keeps_running(
    server_url: str, start_load: Callable[..., Run], tmp_path: Path
) -> None:
    experiment_dir = tmp_path / "experiment"
    (experiment_dir / "load").mkdir(parents=True)
    (experiment_dir / "load" / "broken.py").write_text(
        'raise ImportError("no module named shop_client")\n'
    )
    run = start_load(
        {"host": server_url, "locustfile": "load/broken.py", "workers": 1},
        experiment_dir=experiment_dir,
    )
    with pytest.raises(LoadError, match=r"ImportError: no module named shop_client") as caught:
        run.process.start()
    assert "last lines of" in str(caught.value)
    assert run.process.pids and not any(pid_alive(pid) for pid in run.process.pids)


def test_a_missing_locustfile_is_reported_before_anything_starts(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    run = start_load({"host": server_url, "locustfile": "load/nowhere.py"})
    with pytest.raises(LoadError, match=r"locustfile not found: .*nowhere\.py"):
        run.process.start()
    assert run.process.pids == []


def test_a_fifo_as_locustfile_is_refused_at_once(
    server_url: str, start_load: Callable[..., Run], tmp_path: Path
) -> None:
    (tmp_path / "load").mkdir(exist_ok=True)
    os.mkfifo(tmp_path / "load" / "fifo.py")  # Locust would block forever importing it
    run = start_load({"host": server_url, "locustfile": "load/fifo.py"}, experiment_dir=tmp_path)
    began = time.monotonic()
    with pytest.raises(LoadError, match=r"locustfile .*fifo\.py: .* is a FIFO, not a regular file"):
        run.process.start()
    assert time.monotonic() - began < 5 and run.process.pids == []


def test_a_killed_master_is_reported_once_and_stop_leaves_nothing(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    run = start_load(
        {"host": server_url, "tasks": [{"path": "/"}], "users": 2, "wait": "20ms", "workers": 1}
    )
    run.process.start()
    time.sleep(1.0)
    os.kill(run.process.pids[0], signal.SIGKILL)
    wait_for(lambda: run.failures, timeout=5, what="the failure to be reported")
    time.sleep(0.5)
    assert len(run.failures) == 1
    assert run.failures[0].startswith("Locust master exited with code -9 (SIGKILL)")
    run.process.stop()
    assert not any(pid_alive(pid) for pid in run.process.pids)
    run.process.stop()  # idempotent
    assert len(run.failures) == 1


def test_per_second_percentiles_match_the_raw_requests(
    server_url: str, start_load: Callable[..., Run]
) -> None:
    run = start_load({"host": server_url, "tasks": [{"path": "/slow"}], "users": 4, "wait": "2ms"})
    run.process.start()
    time.sleep(4.0)
    run.process.stop()

    raw_by_second: dict[int, list[float]] = defaultdict(list)
    for completed_at, response_time_ms, _ in run.raw_requests():
        raw_by_second[int(completed_at)].append(response_time_ms)
    compared = 0
    for second, window in run.per_second().items():
        raw = raw_by_second.get(second, [])
        assert window.requests == len(raw), f"second {second}"
        if len(raw) < 50:
            continue
        compared += 1
        for q in (50, 90, 95, 99, 100):
            exact = nearest_rank(raw, q)
            platform = percentile_ms(window.histogram, q)
            assert abs(platform - exact) <= 0.01 * exact, (second, q, platform, exact)
    assert compared >= 3


# ---------------------------------------------------------------- imports


def test_the_controller_side_and_the_pure_modules_never_import_locust() -> None:
    code = (
        "import sys, chaos.load, chaos.load.process, chaos.load.argv, chaos.load.merge,"
        " chaos.load.stats, chaos.load.record, chaos.load.stream, chaos.load.exits\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


CONTROLLER = """
import json, sys, time
from pathlib import Path
from chaos.load.process import LoadProcess
from chaos.spec.load import LoadSpec

spec = LoadSpec.model_validate(json.loads(sys.argv[1]))
work = Path(sys.argv[2])
process = LoadProcess(spec, experiment_dir=work, workdir=work, on_window=lambda w: None,
                      on_failure=lambda reason: None)
process.start()
print(json.dumps(process.pids), flush=True)
time.sleep(3600)  # until the test SIGKILLs us
"""


@pytest.mark.parametrize("workers", [0, 1], ids=["standalone", "master-and-worker"])
def test_locust_quits_when_its_controller_dies(server_url: str, tmp_path: Path, workers: int):
    """A SIGKILLed controller cannot stop Locust: Locust sees the pipe close and quits,
    so nothing goes on loading a system nobody watches."""
    spec = {"host": server_url, "tasks": [{"path": "/"}], "users": 2, "wait": "20ms"}
    controller = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, json.dumps({**spec, "workers": workers}), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        assert controller.stdout is not None
        pids = json.loads(controller.stdout.readline())
        assert len(pids) == 1 + workers and all(pid_alive(pid) for pid in pids)
        controller.kill()
        controller.wait()
        wait_for(
            lambda: not any(pid_alive(pid) for pid in pids),
            timeout=10,
            what="Locust to quit after its controller died",
        )
    finally:
        controller.kill()
        controller.wait()
        for pid in pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
