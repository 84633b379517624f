"""Agent footprint: idle RSS, and RSS, threads and /healthz latency under connection floods.

Run: .venv/bin/python bench/agent_footprint.py [--connections 500] [--idle-seconds 10]

Starts one real ``chaos agent serve`` (this tree, token auth, a temporary journal) on
loopback and reads VmRSS and Threads from /proc/<pid>/status:
- idle, after start;
- after one apply + revert of a ``noop`` fault (the request path's imports loaded);
- while N connections are held open and idle (send nothing);
- while N connections trickle an unfinished request head;
- while N connections each declare a 1 MiB body and send none of it;
and, during each flood, the time /healthz takes on a fresh connection (20 tries).
Target: idle RSS <= 40 MiB; threads and RSS bounded whatever N is.
"""

from __future__ import annotations

import argparse
import json
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
TOKEN = "bench-token-not-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status(pid: int) -> tuple[float, int]:
    """(RSS in MiB, threads) of ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def ask(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def healthz_ms(port: int) -> list[float]:
    times = []
    for _ in range(20):
        started = time.perf_counter()
        answer = ask(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
        times.append((time.perf_counter() - started) * 1000)
    return times


def call(port: int, method: str, path: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
    )
    return ask(port, (head + "\r\n").encode() + data)


def use_once(port: int) -> None:
    """One apply + revert of a noop fault: what the controller does, loading that path."""
    target = {"kind": "process", "uid": "u1", "display": "thing", "node": "bench"}
    fault = {"id": "bench-1", "fault": "noop", "params": {}, "target": target, "ttl_s": 30}
    assert b" 201 " in call(port, "POST", "/v1/faults", fault)
    assert b" 200 " in call(port, "DELETE", "/v1/faults/bench-1")


def flood(port: int, count: int, first_bytes: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        socks.append(sock)
    return socks


def report(label: str, pid: int, port: int, during: Callable[[], list[socket.socket]]) -> None:
    socks = during()
    try:
        time.sleep(1.0)
        times = healthz_ms(port)
        rss, threads = status(pid)
    finally:
        for sock in socks:
            sock.close()
    print(
        f"{label:<34} RSS {rss:5.1f} MiB  threads {threads:3d}  /healthz p50 "
        f"{statistics.median(times):6.1f} ms  max {max(times):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    n = args.connections
    with tempfile.TemporaryDirectory(prefix="chaos-bench-agenthttp-") as tmp:
        token = Path(tmp) / "token"
        token.write_text(TOKEN)
        port = free_port()
        argv = [sys.executable, "-m", "chaos", "agent", "serve", "--listen", f"127.0.0.1:{port}",
                "--node", "bench", "--journal-dir", f"{tmp}/journal", "--token-file", str(token),
                "--log-level", "WARNING"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO), "CHAOS_HOME": tmp}
        agent = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    ask(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            cpu_before, started = cpu_seconds(agent.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            cpu = (cpu_seconds(agent.pid) - cpu_before) / (time.monotonic() - started) * 100
            rss, threads = status(agent.pid)
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, N={n}")
            print(f"{'idle after start':<34} RSS {rss:5.1f} MiB  threads {threads:3d}  "
                  f"CPU {cpu:.2f} % over {args.idle_seconds:g}s")  # fmt: skip
            use_once(port)
            rss, threads = status(agent.pid)
            print(f"{'after one apply + revert':<34} RSS {rss:5.1f} MiB  threads {threads:3d}")
            report(f"{n} idle connections", agent.pid, port, lambda: flood(port, n, b""))
            trickle = b"POST /v1/faults HTTP/1.1\r\nHost: x\r\nX-Slow: a"
            report(f"{n} unfinished heads", agent.pid, port, lambda: flood(port, n, trickle))
            body = b"POST /v1/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n{"
            report(f"{n} 1 MiB bodies never sent", agent.pid, port, lambda: flood(port, n, body))
            time.sleep(1.0)
            rss, threads = status(agent.pid)
            print(f"{'after the floods':<34} RSS {rss:5.1f} MiB  threads {threads:3d}")
        finally:
            agent.terminate()
            agent.wait(timeout=10)


if __name__ == "__main__":
    main()
