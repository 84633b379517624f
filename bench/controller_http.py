"""The controller service's HTTP layer: idle memory and GET /v1/runs throughput.

Run: .venv/bin/python bench/controller_http.py [--seconds 5] [--connections 4]

Starts ``chaos controller serve`` (its own process, a temporary SQLite store with 20
stored runs, a bearer token, schedules off) on a free loopback port, reads its resident
memory after it has been idle for 2 s, then sends ``GET /v1/runs`` over ``--connections``
keep-alive connections (one thread each) for ``--seconds`` and prints requests per second
and latency percentiles, then its memory again. Bounded: it stops the service (SIGTERM)
whatever happens.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "bench-controller-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seed_runs(home: Path) -> None:
    from chaos.controller.events import EventBus
    from chaos.store.repository import RunStore, sqlite_url
    from tests.store.run_events import full_run

    store = RunStore(sqlite_url(home / "runs.db"))
    bus = EventBus()
    bus.subscribe(store.recorder())
    for index in range(20):
        full_run(bus, f"bench{index:04d}")
    store.close()


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the controller service exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the controller service never listened")


def hammer(port: int, until: float, latencies: list[float], errors: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while time.monotonic() < until:
        began = time.perf_counter()
        connection.request("GET", "/v1/runs?limit=20", headers=headers)
        answer = connection.getresponse()
        answer.read()
        latencies.append(time.perf_counter() - began)
        if answer.status != 200:
            errors.append(answer.status)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctlhttp-bench-") as tmp:
        home = Path(tmp)
        seed_runs(home)
        port = free_port()
        env = {**os.environ, "CHAOS_HOME": str(home), "CHAOS_CONTROLLER_TOKEN": TOKEN}
        command = [sys.executable, "-m", "chaos", "controller", "serve", "--no-schedules"]
        process = subprocess.Popen(
            [*command, "--listen", f"127.0.0.1:{port}", "--log-level", "WARNING"], env=env
        )
        try:
            wait_ready(port, process)
            time.sleep(2)
            idle = rss_mib(process.pid)
            latencies: list[float] = []
            errors: list[int] = []
            until = time.monotonic() + args.seconds
            threads = [
                threading.Thread(target=hammer, args=(port, until, latencies, errors))
                for _ in range(args.connections)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            loaded = rss_mib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    ms = sorted(latency * 1000 for latency in latencies)
    print(f"idle RSS: {idle:.1f} MiB; after load: {loaded:.1f} MiB")
    print(
        f"GET /v1/runs (20 runs listed), {args.connections} keep-alive connections, "
        f"{args.seconds:g} s: {len(ms) / args.seconds:.0f} requests/s, "
        f"p50 {statistics.median(ms):.1f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, "
        f"non-200: {len(errors)}"
    )


if __name__ == "__main__":
    main()
