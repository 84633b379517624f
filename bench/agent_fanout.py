"""Agent fan-out: apply one fault on N agents and have each confirmed, then revert all.

Run: .venv/bin/python bench/agent_fanout.py [--agents 10,100,1000] [--repeats 7]
                                            [--idle-seconds 60]

Each agent is a full agent (HTTP server, token auth, fsync'd journal, lease
reaper) on its own loopback port. So that 1000 agents fit on this 2-core
machine, agents are hosted 100 per process (one process per agent would cost
1000 interpreters); each still has its own server, journal and reaper. The
fault is ``noop``: it goes through validation, the journal and the lease like any
fault but does not touch the host, so the figures measure the platform.

The controller side is the real one: ``FaultLedger.apply_all`` / ``revert_all``
over an ``AgentExecutor`` with one keep-alive connection per agent.

Idle footprint: one ``chaos agent serve`` process, RSS and CPU over
``--idle-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-not-secret"


# ---------------------------------------------------------------- agent host process


def host_agents(count: int, journal_root: Path) -> None:
    """Start ``count`` agents in this process, print their URLs, serve until stdin closes."""
    from chaos.agent.run import AgentConfig, build_server
    from chaos.agent.scope import ScopePolicy

    servers = []
    for index in range(count):
        config = AgentConfig(
            host="127.0.0.1",
            port=0,
            node=f"bench-{os.getpid()}-{index}",
            journal_dir=journal_root / f"{os.getpid()}-{index}",
            token=TOKEN,
            scope=ScopePolicy(node=True),  # noop faults on the node itself
        )
        server = build_server(config, probe=False)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True
        ).start()
        servers.append(server)
    print(json.dumps([server.url for server in servers]), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    for server in servers:
        server.shutdown()
        server.service.shutdown()


def start_hosts(total: int, per_process: int, journal_root: Path) -> tuple[list, list[str]]:
    processes, urls = [], []
    remaining = total
    while remaining > 0:
        count = min(per_process, remaining)
        remaining -= count
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--host-agents",
                    str(count),
                    "--journal-root",
                    str(journal_root),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        urls.extend(json.loads(process.stdout.readline()))
    return processes, urls


# ---------------------------------------------------------------- controller side


def planned_noops(urls: list[str], round_index: int) -> list:
    from chaos.faults import CATALOG
    from chaos.plan.planner import PlannedFault
    from chaos.spec.models import TargetKind
    from chaos.targets.base import Target

    noop = CATALOG["noop"]
    faults = []
    for index, url in enumerate(urls):
        target = Target(
            kind=TargetKind.PROCESS,
            uid=f"t{index}",
            display=f"t{index}",
            node=f"n{index}",
            attributes={"agent": url},
        )
        faults.append(
            PlannedFault(
                fault_id=f"bench-r{round_index}-t{index}",
                key=f"bench-r{round_index}",
                step_path="spec.method[0]",
                label="noop",
                fault=noop,
                params=noop.params(),
                target_name="t",
                target=target,
                peers={},
                duration=1.0,
            )
        )
    return faults


def measure(urls: list[str], repeats: int) -> tuple[list[float], list[float]]:
    from chaos.controller.agent_client import AgentCredentials
    from chaos.controller.agent_executor import AgentExecutor
    from chaos.controller.ledger import FaultLedger

    executor = AgentExecutor(credentials=AgentCredentials(token=TOKEN), lease_ttl_s=30)
    ledger = FaultLedger(executor=executor, emit=lambda kind, message, data: None)
    apply_times, revert_times = [], []
    try:
        for round_index in range(repeats + 1):  # round 0 opens the connections: not counted
            faults = planned_noops(urls, round_index)
            started = time.perf_counter()
            applied = ledger.apply_all(faults, ttl_for=lambda f: 30.0, stopped=lambda: False)
            applied_s = time.perf_counter() - started
            assert len(applied) == len(urls), "every agent must confirm"
            started = time.perf_counter()
            ledger.revert_all()
            reverted_s = time.perf_counter() - started
            assert not ledger.unreverted, ledger.unreverted
            if round_index:
                apply_times.append(applied_s)
                revert_times.append(reverted_s)
    finally:
        executor.close()
    return apply_times, revert_times


def fanout(n: int, *, per_process: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="chaos-fanout-") as root:
        processes, urls = start_hosts(n, per_process, Path(root))
        try:
            applies, reverts = measure(urls, repeats)
        finally:
            for process in processes:
                process.stdin.close()
            for process in processes:
                process.wait(timeout=60)
    print(
        f"N={n:<5} apply+confirm p50 {statistics.median(applies):.3f}s "
        f"max {max(applies):.3f}s   revert-all p50 {statistics.median(reverts):.3f}s "
        f"max {max(reverts):.3f}s   ({repeats} rounds)",
        flush=True,
    )


# ---------------------------------------------------------------- idle footprint


def idle(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="chaos-idle-") as root:
        token = Path(root) / "token"
        token.write_text(TOKEN)
        chaos = Path(sys.executable).with_name("chaos")
        process = subprocess.Popen(
            [
                str(chaos),
                "agent",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--node",
                "idle",
                "--journal-dir",
                f"{root}/journal",
                "--token-file",
                str(token),
                "--log-level",
                "WARNING",
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)  # start-up, capability probe
            ticks_before, _ = cpu_ticks(process.pid), time.sleep(seconds)
            ticks = cpu_ticks(process.pid) - ticks_before
            rss = rss_mib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    cpu = ticks / os.sysconf("SC_CLK_TCK") / seconds * 100
    print(f"idle agent: RSS {rss:.1f} MiB, CPU {cpu:.2f} % over {seconds:g}s")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="10,100,1000")
    parser.add_argument("--per-process", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--host-agents", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--journal-root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.host_agents:
        host_agents(args.host_agents, args.journal_root)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for n in (int(part) for part in args.agents.split(",") if part):
        fanout(n, per_process=args.per_process, repeats=args.repeats)
    if args.idle_seconds > 0:
        idle(args.idle_seconds)


if __name__ == "__main__":
    main()
