"""Whole runs under real Locust load against the real lab (loopback only).

- the store-outage experiment passes on the resilient lab and its SLIs are stored;
- the percentiles the platform computed agree with a raw per-request log of the
  same run within 1 %;
- on the fragile lab the error-ratio stop condition aborts the run (exit 3) and the
  partition is reverted;
- a Locust killed mid-run ends the run with exit 4, nothing left applied.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from chaos.host import proxyctl
from chaos.store.repository import RunDetail, RunStore
from tests.e2e.conftest import EXPERIMENTS, Lab
from tests.support import free_base_port, pid_alive, wait_for

pytestmark = pytest.mark.slow

OUTAGE = EXPERIMENTS / "lab-store-outage-load.yaml"


def run(lab: Lab, experiment: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.chaos("run", str(experiment), "--lab", lab.state.lab_id, *args, timeout=180)


def latest_run(lab: Lab) -> RunDetail:
    store = RunStore(lab.db)
    try:
        newest = store.list_runs(limit=1)[0]
        detail = store.get_run(newest.id)
        assert detail is not None
        return detail
    finally:
        store.close()


def toxics(lab: Lab) -> list[dict]:
    return [t for link in proxyctl.list_links(lab.state.control_url) for t in link.toxics]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def test_store_outage_under_load_passes_on_the_resilient_lab(resilient_lab: Lab, tmp_path):
    raw = tmp_path / "requests"
    result = run(resilient_lab, OUTAGE, "--load-log", str(raw))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    assert "SLI/probe" in result.stdout and "throughput" in result.stdout  # verdict table
    detail = latest_run(resilient_lab)
    phases = {w.phase for w in detail.load}
    assert {"baseline", "inject", "recovery"} <= phases
    assert sum(w.requests for w in detail.load) > 200
    assert {p.sli for p in detail.sli_points} == {"errors", "p99", "throughput"}
    rows = {row["name"]: row for row in detail.run.verdict["explanation"]}
    assert rows["errors"]["passed"] and rows["errors"]["baseline"] == 0.0
    assert rows["throughput"]["baseline"] > 20
    assert rows["p99"]["fault_worst"] is not None
    assert detail.run.time_to_recover_s is not None
    assert toxics(resilient_lab) == []

    # Percentiles the platform computed per second == from the raw log, within 1 %.
    by_second: dict[int, list[float]] = defaultdict(list)
    for log in raw.glob("requests-*.jsonl"):
        for line in log.read_text().splitlines():
            finished_at, response_ms, _ok = json.loads(line)
            by_second[math.floor(finished_at)].append(response_ms)
    compared = 0
    for window in detail.load:
        values = by_second.get(window.second, [])
        assert window.requests == len(values), f"second {window.second}"
        if len(values) < 20:
            continue
        for q, metric in ((50, "p50"), (90, "p90"), (95, "p95"), (99, "p99"), (100, "max")):
            ours = window.metrics[f"latency_{metric}_ms"]
            exact = nearest_rank(values, q)
            assert ours == pytest.approx(exact, rel=0.01), (window.second, metric, ours, exact)
        compared += 1
    assert compared >= 10


def test_store_outage_trips_the_error_stop_condition_on_the_fragile_lab(fragile_lab: Lab):
    result = run(fragile_lab, OUTAGE)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "stop condition tripped: error budget burning" in result.stdout
    assert toxics(fragile_lab) == []
    detail = latest_run(fragile_lab)
    kinds = [event.kind for event in detail.events]
    assert kinds.index("stop.tripped") < kinds.index("fault.reverted")
    # load kept running through recovery: there are recovery seconds after the abort
    assert any(w.phase == "recovery" for w in detail.load)


LONG_OUTAGE = OUTAGE.read_text().replace("duration: 8s", "duration: 60s")


def interrupt_long_outage(lab: Lab, tmp_path: Path, name: str, interrupt) -> tuple[int, str]:
    """Run the outage for 60 s, call ``interrupt(process)`` once the partition is active,
    and return the run's exit code and output."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(LONG_OUTAGE.replace("lab-store-outage-load", name))
    process = lab.start_run(path)
    try:
        wait_for(lambda: bool(toxics(lab)), timeout=40, what="the partition")
        interrupt(process)
        output, _ = process.communicate(timeout=40)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, output


def test_killing_locust_mid_run_exits_4_and_reverts(resilient_lab: Lab, tmp_path):
    pids: list[int] = []

    def kill_locust(_process) -> None:
        pids.extend(_load_pids(resilient_lab) or [])
        assert pids, "no load.started event with the Locust PIDs"
        os.kill(pids[0], signal.SIGKILL)

    code, output = interrupt_long_outage(resilient_lab, tmp_path, "locust-killed", kill_locust)
    assert code == 4, output
    assert "load generator failed" in output
    assert toxics(resilient_lab) == []
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=10, what="Locust to be gone")


def _load_pids(lab: Lab) -> list[int] | None:
    try:
        detail = latest_run(lab)
    except (IndexError, AssertionError):
        return None
    for event in detail.events:
        if event.kind == "load.started":
            return [int(pid) for pid in event.data["pids"]]
    return None


def test_a_locustfile_that_does_not_import_fails_before_injecting(resilient_lab: Lab, tmp_path):
    (tmp_path / "broken.py").write_text("import no_such_module_for_chaos\n")
    text = OUTAGE.read_text().replace(
        "    tasks:\n      - {name: homepage, path: /}\n", "    locustfile: broken.py\n"
    )
    path = tmp_path / "broken-load.yaml"
    path.write_text(text)
    result = run(resilient_lab, path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "no_such_module_for_chaos" in result.stdout + result.stderr
    detail = latest_run(resilient_lab)
    assert not any(event.kind == "fault.applied" for event in detail.events)


def test_platform_never_imports_locust_into_the_controller():
    code = (
        "import sys, chaos.controller.engine, chaos.cli.run, chaos.load.process; "
        "print('locust' in sys.modules, 'gevent' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_prometheus_that_does_not_answer_stops_the_run_in_preflight(resilient_lab: Lab, tmp_path):
    closed = free_base_port()  # nothing listens there
    text = OUTAGE.read_text().replace(
        "  steadyState:\n    slis:\n",
        "  steadyState:\n    slis:\n"
        "      - name: queue\n"
        f"        prometheus: {{url: 'http://127.0.0.1:{closed}', query: 'sum(up)'}}\n"
        "        threshold: '< 100'\n",
    )
    path = tmp_path / "prometheus-down.yaml"
    path.write_text(text)
    result = run(resilient_lab, path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "SLI queue: Prometheus at" in result.stdout
    assert "cannot connect" in result.stdout
    detail = latest_run(resilient_lab)
    assert not any(event.kind in ("fault.applied", "load.started") for event in detail.events)


def test_operator_halt_reverts_at_once_and_still_measures_recovery(resilient_lab: Lab, tmp_path):
    code, output = interrupt_long_outage(
        resilient_lab, tmp_path, "halted-outage", lambda process: process.send_signal(signal.SIGINT)
    )
    assert code == 3, output
    assert "operator halt (SIGINT)" in output
    assert toxics(resilient_lab) == []
    detail = latest_run(resilient_lab)
    kinds = [event.kind for event in detail.events]
    assert "recovery.measured" in kinds
    assert any(w.phase == "recovery" for w in detail.load)  # load ran on through recovery


def test_a_prometheus_sli_is_judged_and_explained_in_a_whole_run(
    resilient_lab: Lab, servers, tmp_path
):
    """A real Prometheus scraping a real endpoint (``tests/prometheus_lab.py``)."""
    text = OUTAGE.read_text().replace(
        "  steadyState:\n    slis:\n",
        "  steadyState:\n    slis:\n"
        "      - name: queue\n"
        f"        prometheus: {{url: '{servers.prometheus}', query: 'scalar(lab_queue_depth)'}}\n"
        "        threshold: '< 100'\n"
        "        window: 2s\n",
    )
    path = tmp_path / "with-prometheus.yaml"
    path.write_text(text)
    result = run(resilient_lab, path)
    assert result.returncode == 0, result.stdout + result.stderr
    detail = latest_run(resilient_lab)
    rows = {row["name"]: row for row in detail.run.verdict["explanation"]}
    assert rows["queue"]["source"] == "prometheus"
    assert rows["queue"]["baseline"] == 7.0 and rows["queue"]["fault_worst"] == 7.0
    assert rows["queue"]["passed"]
    queue_points = [p for p in detail.sli_points if p.sli == "queue"]
    assert {p.phase for p in queue_points} >= {"baseline", "inject", "recovery"}
    assert all(p.value == 7.0 and p.ok for p in queue_points)
