"""Abort latency: from the first request that breaches a stop condition to every fault
confirmed reverted, on 10 agents.

Run: .venv/bin/python bench/abort_latency.py [--runs 20] [--agents 10]

Each run is a real ``chaos run`` (the CLI, in its own process) of an experiment
with Locust load on a loopback HTTP server, an error-ratio SLI and the stop
condition ``errors > 0 for 0s``, and a ``noop`` fault on 10 targets, each target
owned by its own agent (10 full agents: HTTP server, token, fsync'd journal,
leases; hosted in one process as in ``bench/agent_fanout.py``). Once every fault
is applied the bench tells the server to answer 500 from a random moment within
the next second (so the breach falls anywhere within a load second). The server
records when it sent its first 500; the run store records when each agent
confirmed its revert. Latency = last confirmed revert - first 500 sent.

Targets: p50 ≤ 1 s, p99 ≤ 1.5 s (issue 4).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_fanout import TOKEN, start_hosts

LAB = "abort-bench"


class FlakyServer:
    """200 until told to fail at a given moment; remembers when it first sent a 500."""

    def __init__(self) -> None:
        self.fail_from = float("inf")
        self.first_failure: float | None = None
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                now = time.time()
                failing = now >= outer.fail_from
                if failing:
                    with lock:
                        if outer.first_failure is None:
                            outer.first_failure = now
                body = b"boom" if failing else b"ok"
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.fail_from, self.first_failure = float("inf"), None


def experiment_text(url: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: chaos/v1
        kind: Experiment
        metadata: {{name: abort-latency}}
        spec:
          targets:
            nodes: {{selector: {{labels: {{app: bench}}}}}}
          load:
            host: "{url}"
            users: 4
            wait: 10ms
            tasks: [{{path: /}}]
          steadyState:
            slis:
              - {{name: errors, metric: error_ratio, threshold: "< 1%"}}
          phases: {{baseline: 2s, recovery: 0s}}
          method:
            - {{fault: noop, target: nodes, duration: 60s}}
          stopConditions:
            - {{sli: errors, threshold: "> 0", for: 0s}}
          safety: {{leaseTtl: 30s}}
        """
    )


def start_targets(urls: list[str], lab: str = LAB) -> list[subprocess.Popen[bytes]]:
    """One sleeping process per agent, labelled as a lab process served by that agent."""
    targets = []
    for index, url in enumerate(urls):
        env = {
            **os.environ,
            "CHAOS_LAB_ID": lab,
            "CHAOS_LABELS": "app=bench",
            "CHAOS_AGENT": url,
            "CHAOS_NODE": f"bench-node-{index}",
        }
        targets.append(subprocess.Popen(["sleep", "3600"], env=env))
    return targets


def one_run(server: FlakyServer, experiment: Path, home: Path, token: Path, agents: int) -> float:
    server.reset()
    env = {**os.environ, "CHAOS_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    chaos = Path(sys.executable).with_name("chaos")
    run = subprocess.Popen(
        [str(chaos), "run", str(experiment), "--lab", LAB, "--agent-token-file", str(token)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    output = []
    applied = 0
    for line in run.stdout:
        output.append(line)
        if "applied noop" in line:
            applied += 1
            if applied == agents:  # every agent confirmed: breach at a random moment
                server.fail_from = time.time() + random.uniform(0.0, 1.0)
    code = run.wait(timeout=120)
    text = "".join(output)
    if code != 3 or server.first_failure is None:
        raise SystemExit(f"run did not abort (exit {code}):\n{text}")
    return last_revert(home) - server.first_failure


def last_revert(home: Path) -> float:
    with sqlite3.connect(home / "chaos.db") as db:
        run_id = db.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        rows = db.execute(
            "SELECT at, data_json FROM run_events WHERE run_id = ? AND kind = 'fault.reverted'",
            (run_id,),
        ).fetchall()
    reverted = [at for at, _ in rows]
    assert reverted, "no revert recorded"
    return max(reverted)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--agents", type=int, default=10)
    args = parser.parse_args()
    server = FlakyServer()
    with tempfile.TemporaryDirectory(prefix="chaos-abort-") as root:
        base = Path(root)
        token = base / "token"
        token.write_text(TOKEN)
        experiment = base / "abort.yaml"
        experiment.write_text(experiment_text(server.url))
        hosts, urls = start_hosts(args.agents, args.agents, base / "journals")
        targets = start_targets(urls)
        latencies = []
        try:
            for index in range(args.runs):
                latency = one_run(server, experiment, base / "home", token, args.agents)
                latencies.append(latency)
                print(f"run {index + 1:>2}: {latency:.3f}s", flush=True)
        finally:
            for target in targets:
                target.send_signal(signal.SIGTERM)
                target.wait()
            for host in hosts:
                host.stdin.close()
                host.wait(timeout=60)
    print(
        json.dumps(
            {
                "agents": args.agents,
                "runs": len(latencies),
                "p50_s": round(statistics.median(latencies), 3),
                "p99_s": round(percentile(latencies, 99), 3),
                "max_s": round(max(latencies), 3),
                "min_s": round(min(latencies), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
