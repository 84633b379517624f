"""Load overhead: Locust driven by the platform versus bare Locust, same locustfile and target.

Run: .venv/bin/python bench/load_overhead.py [--pairs 5] [--seconds 15] [--users 10]

The locustfile is one FastHttpUser doing ``GET /`` with no wait, so Locust's single
core is the bottleneck and any per-request cost of the platform's plugin (recording
every request into per-second windows) shows up as lost throughput. The target is a
minimal keep-alive asyncio HTTP server on 127.0.0.1, pinned to the other core, so it
is never the bottleneck; Locust (and this process) are pinned to core 0.

Each pair runs bare Locust (``.venv/bin/locust --headless --run-time``) and the
platform (``LoadProcess``, consuming its windows) one after the other, in alternating
order. Two yardsticks per run:

* Locust's own figure: bare Locust's ``--json`` totals (requests over its first to last
  request); the platform's windows (requests per whole second between ready and stop);
* the server's count of requests answered over the same steady stretch of each run
  (from 1 s after the first request, for ``seconds - 3`` s), identical for both.

The figure is the median ratio platform/bare (target: at least 0.95).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chaos.load.process import LoadProcess  # noqa: E402
from chaos.load.stats import LoadWindow  # noqa: E402
from chaos.spec.load import LoadSpec  # noqa: E402

LOCUST = Path(sys.executable).with_name("locust")
LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/")
"""
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
LOCUST_CORE, SERVER_CORE = 0, 1


# ---------------------------------------------------------------- the target


class _Http(asyncio.Protocol):
    """Answers every request on a keep-alive connection with a fixed 200 (GETs only)."""

    def __init__(self, counter) -> None:
        self._counter = counter
        self._pending = b""

    def connection_made(self, transport) -> None:
        self._transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._pending += data
        count = self._pending.count(b"\r\n\r\n")
        if count:
            self._pending = self._pending[self._pending.rfind(b"\r\n\r\n") + 4 :]
            self._transport.write(RESPONSE * count)
            self._counter.value += count


def serve(sock: socket.socket, counter) -> None:
    os.sched_setaffinity(0, {SERVER_CORE})

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: _Http(counter), sock=sock)
        await server.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------- one run of each kind


def steady_server_rps(counter, seconds: float, done: Callable[[], bool]) -> float:
    """Requests answered per second over the steady stretch of a run."""
    deadline = time.monotonic() + 30
    while counter.value == 0 and not done():
        if time.monotonic() > deadline:
            raise RuntimeError("no request reached the server")
        time.sleep(0.01)
    time.sleep(1.0)
    start, first = time.monotonic(), counter.value
    time.sleep(seconds - 3)
    return (counter.value - first) / (time.monotonic() - start)


def run_bare(url: str, workdir: Path, users: int, seconds: int, counter) -> tuple[float, float]:
    argv = [
        str(LOCUST), "-f", str(workdir / "locustfile.py"), "--headless", "-u", str(users),
        "-r", str(users), "-H", url, "--run-time", f"{seconds}s", "--only-summary", "--json",
    ]  # fmt: skip
    with (workdir / "bare.json").open("wb") as out, (workdir / "bare.log").open("wb") as log:
        locust = subprocess.Popen(argv, stdout=out, stderr=log, stdin=subprocess.DEVNULL)
        try:
            server_rps = steady_server_rps(counter, seconds, lambda: locust.poll() is not None)
            locust.wait(timeout=seconds + 30)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
    entries = json.loads((workdir / "bare.json").read_text())
    requests = sum(entry["num_requests"] for entry in entries)
    span = max(e["last_request_timestamp"] for e in entries) - min(e["start_time"] for e in entries)
    return requests / span, server_rps


def run_platform(url: str, workdir: Path, users: int, seconds: int, counter) -> tuple[float, float]:
    windows: list[LoadWindow] = []
    spec = LoadSpec(host=url, locustfile="locustfile.py", users=users, spawn_rate=users)
    load = LoadProcess(
        spec,
        experiment_dir=workdir,
        workdir=workdir / "platform",
        on_window=windows.append,
        on_failure=lambda reason: print(f"load failed: {reason}", file=sys.stderr),
    )
    try:
        ready = load.start()
        server_rps = steady_server_rps(counter, seconds, lambda: False)
        time.sleep(max(0.0, ready.started_at + seconds - time.time()))
        stopped_at = time.time()
    finally:
        load.stop()
    whole = [w for w in windows if w.second >= ready.started_at and w.second + 1 <= stopped_at]
    return sum(w.requests for w in whole) / len(whole), server_rps


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()

    os.sched_setaffinity(0, {LOCUST_CORE})  # inherited by every Locust process started here
    context = multiprocessing.get_context("fork")
    counter = context.Value("Q", 0, lock=False)  # one writer: the server
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = context.Process(target=serve, args=(sock, counter), daemon=True)
    server.start()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; Locust on core {LOCUST_CORE}, "
        f"server on core {SERVER_CORE}; {args.users} users, {args.seconds}s runs"
    )
    print(f"{'pair':>4} {'order':<15} {'bare rps':>9} {'platform':>9} "
          f"{'bare@srv':>9} {'plat@srv':>9}")  # fmt: skip
    results: list[tuple[float, float, float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="chaos-load-bench-") as root:
            workdir = Path(root)
            (workdir / "locustfile.py").write_text(LOCUSTFILE)
            for pair in range(args.pairs):
                runs = {
                    "bare": lambda: run_bare(url, workdir, args.users, args.seconds, counter),
                    "platform": lambda: run_platform(
                        url, workdir, args.users, args.seconds, counter
                    ),
                }
                order = ["bare", "platform"] if pair % 2 == 0 else ["platform", "bare"]
                measured = {name: runs[name]() for name in order}
                (bare, bare_srv), (plat, plat_srv) = measured["bare"], measured["platform"]
                results.append((bare, plat, bare_srv, plat_srv))
                print(f"{pair + 1:>4} {'→'.join(order):<15} {bare:>9.0f} {plat:>9.0f} "
                      f"{bare_srv:>9.0f} {plat_srv:>9.0f}", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.join()
    bare, plat, bare_srv, plat_srv = (
        statistics.median(column) for column in zip(*results, strict=True)
    )
    ratios = [p / b for b, p, _, _ in results]
    server_ratios = [p / b for _, _, b, p in results]
    print(f"median   {'':<15} {bare:>9.0f} {plat:>9.0f} {bare_srv:>9.0f} {plat_srv:>9.0f}")
    print(
        f"RPS ratio platform/bare: {statistics.median(ratios):.3f} by Locust's figures "
        f"(min {min(ratios):.3f}), {statistics.median(server_ratios):.3f} counted at the server "
        f"(min {min(server_ratios):.3f}); target >= 0.95"
    )


if __name__ == "__main__":
    main()
