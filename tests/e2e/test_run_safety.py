"""Safety of a run: halts revert everything (exit 3), bad preconditions inject nothing (exit 4),
a killed controller leaves no fault beyond its TTL and its run is marked interrupted."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from chaos.host import proxyctl
from chaos.lab.manage import lab_status
from chaos.store.repository import RunStore
from tests.e2e.conftest import Lab
from tests.support import wait_for

pytestmark = pytest.mark.slow


def experiment(
    tmp_path: Path,
    *,
    method: str,
    targets: str = "",
    probe_url: str = "${CHAOS_VAR_LAB_URL}/",
    extra: str = "",
    status: int = 200,
    name: str = "safety",
) -> Path:
    targets = (
        targets
        or """
    api: {selector: {labels: {app: api}}}
    store: {selector: {labels: {app: store}}}"""
    )
    text = f"""
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: {name}}}
spec:
  targets:{targets}
  steadyState:
    probes:
      - name: homepage
        http: {{url: "{probe_url}", status: {status}, timeout: 1500ms, latency: "< 800"}}
  phases: {{baseline: 1s, recovery: 5s}}
  method:
{method}
{extra}
"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


LONG_LATENCY = """\
    - {fault: network-latency, target: api, params: {delay: 300ms, to: [store]}, duration: 60s}"""


def toxics(lab: Lab) -> list[dict]:
    return [t for link in proxyctl.list_links(lab.state.control_url) for t in link.toxics]


def wait_for_output(process, marker: str, timeout: float = 20) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in output:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_halt_mid_fault_reverts_everything_and_exits_3(resilient_lab: Lab, tmp_path, signum):
    path = experiment(tmp_path, method=LONG_LATENCY, name=f"halt-{signum.name.lower()}")
    process = resilient_lab.start_run(path)
    try:
        wait_for_output(process, "applied")
        assert toxics(resilient_lab), "the fault should be active before the halt"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 3, output
    assert f"operator halt ({signum.name})" in output
    assert toxics(resilient_lab) == []
    runs = RunStore(resilient_lab.db).list_runs(limit=5)
    aborted = next(r for r in runs if r.experiment == path.stem)
    assert aborted.status.value == "aborted"
    detail = RunStore(resilient_lab.db).get_run(aborted.id)
    assert any(e.kind == "fault.reverted" for e in detail.events)


def test_killed_controller_leaves_no_fault_beyond_its_ttl(resilient_lab: Lab, tmp_path):
    method = """\
    - {fault: network-latency, target: api, params: {delay: 300ms, to: [store]}, duration: 2s}"""
    path = experiment(tmp_path, method=method, extra="  safety: {leaseTtl: 1s}", name="sigkill")
    process = resilient_lab.start_run(path)
    try:
        wait_for_output(process, "applied")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
    finally:
        process.kill()
    killed_at = time.monotonic()
    wait_for(lambda: toxics(resilient_lab) == [], timeout=5, what="the toxic to expire")
    assert time.monotonic() - killed_at <= 2 + 1 + 1  # duration + leaseTtl + 1 s
    run = next(
        r for r in RunStore(resilient_lab.db).list_runs(limit=5) if r.experiment == "sigkill"
    )
    assert run.status.value == "interrupted"
    listed = resilient_lab.chaos("runs", "list")
    assert "interrupted" in listed.stdout


def test_unreachable_probe_is_exit_4_and_injects_nothing(resilient_lab: Lab, tmp_path):
    path = experiment(
        tmp_path, method=LONG_LATENCY, probe_url="http://127.0.0.1:9/", name="noprobe"
    )
    result = resilient_lab.chaos("run", str(path), "--lab", resilient_lab.state.lab_id)
    assert result.returncode == 4, result.stdout
    assert "unreachable in preflight" in result.stdout
    assert "applied" not in result.stdout and toxics(resilient_lab) == []


def test_empty_selection_is_exit_4(resilient_lab: Lab, tmp_path):
    targets = """
    api: {selector: {labels: {app: nothing-like-this}}}
    store: {selector: {labels: {app: store}}}"""
    path = experiment(tmp_path, method=LONG_LATENCY, targets=targets, name="empty")
    result = resilient_lab.chaos("run", str(path), "--lab", resilient_lab.state.lab_id)
    assert result.returncode == 4
    assert "matched nothing" in result.stdout and "target=api" in result.stdout


def test_unsteady_baseline_is_exit_4_and_injects_nothing(resilient_lab: Lab, tmp_path):
    path = experiment(tmp_path, method=LONG_LATENCY, status=418, name="unsteady")
    result = resilient_lab.chaos("run", str(path), "--lab", resilient_lab.state.lab_id)
    assert result.returncode == 4, result.stdout
    assert "not steady before injection" in result.stdout
    assert "applied" not in result.stdout and toxics(resilient_lab) == []


def test_blast_radius_cap_refuses_before_injecting(resilient_lab: Lab, tmp_path):
    method = """\
    - {fault: process-kill, target: api}"""
    path = experiment(tmp_path, method=method, extra="  safety: {maxTargets: 1}", name="radius")

    def api_pids() -> set[int]:
        state = lab_status(chaos_home=resilient_lab.home, lab_id=resilient_lab.state.lab_id)
        return {s.pid for s in state.services if s.app == "api"}

    before = api_pids()
    result = resilient_lab.chaos("run", str(path), "--lab", resilient_lab.state.lab_id)
    assert result.returncode == 4
    assert "exceeds safety.maxTargets 1" in result.stdout
    assert api_pids() == before  # nobody was killed


def test_stop_condition_aborts_with_exit_3_and_reverts(fragile_lab: Lab, tmp_path):
    method = """\
    - {fault: network-partition, target: store, params: {action: drop}, duration: 60s}"""
    extra = "  stopConditions:\n    - {probe: homepage, for: 2s}"
    path = experiment(tmp_path, method=method, extra=extra, name="stopcond")
    started = time.monotonic()
    result = fragile_lab.chaos("run", str(path), "--lab", fragile_lab.state.lab_id)
    assert result.returncode == 3, result.stdout
    assert "stop condition tripped" in result.stdout
    assert time.monotonic() - started < 30  # aborted long before the 60 s fault ended
    assert toxics(fragile_lab) == []
