"""Latency fidelity of the fallback backend: inject 100 ms, measure the added p50.

Run (root): .venv/bin/python bench/latency_fidelity.py [--delay-ms 100] [--rounds 200]

Builds two network namespaces joined by a veth (addresses private to them),
an echo server in B and a process in A standing for the target. The
network-latency fault runs with ``backend: proxy`` (the transparent delaying
TCP proxy behind an iptables REDIRECT, used where the kernel has no netem),
exactly as an agent runs it. Echo round trips from A to B are measured
before, during and after; the figure is the added median versus the target
(±5 %). Everything is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chaos.faults import CATALOG  # noqa: E402
from chaos.faults.base import FaultRequest, HostContext  # noqa: E402
from chaos.host.kernel import probe_capabilities  # noqa: E402
from chaos.spec.models import TargetKind  # noqa: E402
from chaos.targets.base import Target  # noqa: E402
from tests.host.netlab import echo_rtts, in_namespace  # noqa: E402

ECHO = REPO / "tests" / "host" / "echo_server.py"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def measure(ns: str, host: str, port: int, rounds: int) -> list[float]:
    return [rtt * 1000 for rtt in in_namespace(ns, lambda: echo_rtts(host, port, rounds=rounds))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, iptables)")
    suffix = secrets.token_hex(3)
    a, b = f"chaos-b-{suffix}a", f"chaos-b-{suffix}b"
    processes: list[subprocess.Popen] = []
    try:
        for ns in (a, b):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b)
        for ns, dev, addr in ((a, "veth-a", "10.251.7.1"), (b, "veth-b", "10.251.7.2")):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
        processes.append(
            subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    b,
                    sys.executable,
                    str(ECHO),
                    "--tcp",
                    "7000",
                    "--sink",
                    "7001",
                    "--udp",
                    "7002",
                ]
            )
        )
        target_proc = subprocess.Popen(["ip", "netns", "exec", a, "sleep", "600"])
        processes.append(target_proc)
        time.sleep(1.0)
        run(a, target_proc.pid, args.delay_ms, args.rounds)
    finally:
        for process in processes:
            process.kill()
            process.wait()
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def run(ns_a: str, target_pid: int, delay_ms: float, rounds: int) -> None:
    sleeper = target_pid  # `ip netns exec` execs the command: same PID, inside A
    started = int(Path(f"/proc/{sleeper}/stat").read_text().rsplit(")", 1)[1].split()[19])
    target = Target(
        kind=TargetKind.PROCESS,
        uid=f"{sleeper}@{started}",
        display="bench",
        node="bench",
        pid=sleeper,
        start_time=started,
    )
    peer = Target(
        kind=TargetKind.PROCESS,
        uid="peer",
        display="peer",
        node="b",
        attributes={"ip": "10.251.7.2"},
    )
    fault = CATALOG["network-latency"]
    params = fault.params(delay=f"{delay_ms:g}ms", to=["peer"], backend="proxy")
    request = FaultRequest(
        fault_id=f"bench-{secrets.token_hex(3)}",
        key="bench",
        target=target,
        params=params,
        peers={"to": (peer,)},
        ttl_s=60,
    )
    host = HostContext(node="bench", capabilities=probe_capabilities().to_dict())
    before = statistics.median(measure(ns_a, "10.251.7.2", 7000, rounds))
    undo = fault.apply(request, fault.prepare(request, host), host)
    try:
        during_samples = measure(ns_a, "10.251.7.2", 7000, rounds)
    finally:
        fault.revert(undo, host)
    after = statistics.median(measure(ns_a, "10.251.7.2", 7000, rounds))
    during = statistics.median(during_samples)
    added = during - before
    error = (added - delay_ms) / delay_ms * 100
    p90 = sorted(during_samples)[int(len(during_samples) * 0.9)]
    print(
        f"backend {undo.backend}: injected {delay_ms:g} ms, added p50 {added:.2f} ms "
        f"({error:+.2f} %), during p90 {p90:.2f} ms, baseline p50 {before:.3f} ms, "
        f"after revert p50 {after:.3f} ms, {rounds} round trips each"
    )


if __name__ == "__main__":
    main()
