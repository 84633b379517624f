"""Halt latency: from the start of ``chaos halt RUN`` (another process) to every fault
confirmed reverted, on 10 agents.

Run: .venv/bin/python bench/halt_latency.py [--runs 20] [--agents 10]

Each run is a real ``chaos run`` (the CLI, in its own process) of an experiment with
one HTTP probe on a loopback server and a ``noop`` fault held for 60 s on 10 targets,
each target owned by its own agent (10 full agents: HTTP server, token, fsync'd
journal, leases; hosted in one process as in ``bench/agent_fanout.py``). Once every
agent confirmed its fault, the bench waits a random 0-1 s (so the halt falls anywhere
in the run's 0.1 s halt poll and between lease renewals), then starts ``chaos halt
RUN`` as a subprocess, as an operator would from another terminal. The run store
records when the halt request was written and when each agent confirmed its revert.

Latency = last agent-confirmed revert - the moment the halt command was started. It
is split into the halt command itself (interpreter start, imports, opening the store,
writing the request) and the run's side (noticing the request, reverting 10 faults).
After each run every agent is asked for its active faults: there must be none.

Target: p50 ≤ 1 s (issue 6).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from abort_latency import percentile, start_targets
from agent_fanout import TOKEN, start_hosts

REPO = Path(__file__).resolve().parents[1]
LAB = "halt-bench"
RUN_LINE = re.compile(r"▶ run ([0-9a-f]+) of ")


class Healthy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def experiment_text(url: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: chaos/v1
        kind: Experiment
        metadata: {{name: halt-latency}}
        spec:
          targets:
            nodes: {{selector: {{labels: {{app: bench}}}}}}
          steadyState:
            probes:
              - {{name: up, http: {{url: "{url}/", timeout: 1s}}}}
          phases: {{baseline: 1s, recovery: 0s}}
          method:
            - {{fault: noop, target: nodes, duration: 60s}}
          safety: {{leaseTtl: 30s}}
        """
    )


@dataclass(frozen=True)
class Halt:
    total_s: float  # halt command started → last agent-confirmed revert
    command_s: float  # halt command started → halt request written to the store
    run_side_s: float  # halt request written → last agent-confirmed revert


def one_run(experiment: Path, home: Path, token: Path, agents: int) -> Halt:
    env = {**os.environ, "CHAOS_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CHAOS_DB", None)
    chaos = str(Path(sys.executable).with_name("chaos"))
    run = subprocess.Popen(
        [chaos, "run", str(experiment), "--lab", LAB, "--agent-token-file", str(token)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    output: list[str] = []
    run_id, applied = None, 0
    for line in run.stdout:
        output.append(line)
        if match := RUN_LINE.search(line):
            run_id = match.group(1)
        applied += "applied noop" in line
        if applied == agents:
            break
    if run_id is None or applied < agents:
        run.kill()
        raise SystemExit("the faults were never applied:\n" + "".join(output))
    drain = threading.Thread(target=lambda: output.extend(run.stdout or ()), daemon=True)
    drain.start()
    time.sleep(random.uniform(0.0, 1.0))
    started = time.time()
    halt = subprocess.run(
        [chaos, "halt", run_id], env=env, capture_output=True, text=True, check=False
    )
    code = run.wait(timeout=60)
    drain.join(timeout=10)
    if halt.returncode != 0 or code != 3:
        raise SystemExit(
            f"halt exit {halt.returncode} ({halt.stderr.strip()}), run exit {code}:\n"
            + "".join(output)
        )
    requested, reverted = halt_times(home, run_id, agents)
    return Halt(reverted - started, requested - started, reverted - requested)


def halt_times(home: Path, run_id: str, agents: int) -> tuple[float, float]:
    """(when the halt request was written, when the last agent confirmed its revert)."""
    with sqlite3.connect(home / "chaos.db") as db:
        (requested,) = db.execute(
            "SELECT MIN(requested_at) FROM halt_requests WHERE run_id = ?", (run_id,)
        ).fetchone()
        rows = db.execute(
            "SELECT at FROM run_events WHERE run_id = ? AND kind = 'fault.reverted'", (run_id,)
        ).fetchall()
    if len(rows) != agents:
        raise SystemExit(f"run {run_id}: {len(rows)} reverts recorded, {agents} faults applied")
    return requested, max(at for (at,) in rows)


def assert_nothing_active(urls: list[str]) -> None:
    from chaos.controller.agent_client import AgentClient, AgentCredentials

    for url in urls:
        client = AgentClient(url, credentials=AgentCredentials(token=TOKEN))
        try:
            if held := client.faults():
                raise SystemExit(f"agent {url} still holds {held}")
        finally:
            client.close()


def summary(name: str, values: list[float]) -> dict[str, float]:
    return {
        f"{name}_p50_s": round(statistics.median(values), 3),
        f"{name}_p90_s": round(percentile(values, 90), 3),
        f"{name}_max_s": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--agents", type=int, default=10)
    args = parser.parse_args()
    # an install has bytecode (see bench/cli_startup.py): the halt command's start-up counts
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "chaos")], check=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    halts: list[Halt] = []
    with tempfile.TemporaryDirectory(prefix="chaos-halt-") as root:
        base = Path(root)
        token = base / "token"
        token.write_text(TOKEN)
        experiment = base / "halt.yaml"
        experiment.write_text(experiment_text(f"http://127.0.0.1:{server.server_address[1]}"))
        hosts, urls = start_hosts(args.agents, args.agents, base / "journals")
        targets = start_targets(urls, LAB)
        try:
            for index in range(args.runs):
                halt = one_run(experiment, base / "home", token, args.agents)
                assert_nothing_active(urls)
                halts.append(halt)
                print(
                    f"run {index + 1:>2}: {halt.total_s:.3f}s "
                    f"(halt command {halt.command_s:.3f}s + run side {halt.run_side_s:.3f}s)",
                    flush=True,
                )
        finally:
            for target in targets:
                target.send_signal(signal.SIGTERM)
                target.wait()
            for host in hosts:
                host.stdin.close()
                host.wait(timeout=60)
            server.shutdown()
    print(
        json.dumps(
            {
                "agents": args.agents,
                "runs": len(halts),
                **summary("total", [h.total_s for h in halts]),
                **summary("command", [h.command_s for h in halts]),
                **summary("run_side", [h.run_side_s for h in halts]),
            }
        )
    )


if __name__ == "__main__":
    main()
