"""``chaos halt RUN`` from another process reverts every fault of a running ``chaos run``.

The run holds two 60 s faults in parallel (a latency on the api towards the store, a
partition of the store); once both are applied, ``chaos halt <run id>`` runs as its own
process. The run must end with exit 3 long before the faults' duration, its stored
events must show each applied fault reverted, and nothing may be left active: no toxic
on the process lab's proxy; in the netns lab (root), no fault held by any node agent and
no chain of ours in any node's iptables. Halting an unknown or finished run is exit 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from chaos.controller.agent_client import AgentClient, AgentCredentials
from chaos.host import iptables, proxyctl
from chaos.store.repository import RunStore
from tests.e2e.conftest import HOMEPAGE_PROBE, Lab
from tests.support import chaos_env, run_chaos, wait_for, write_experiment

pytestmark = pytest.mark.slow
RUN_LINE = re.compile(r"▶ run ([0-9a-f]+) of ")

METHOD = """\
    - parallel:
        - {fault: network-latency, target: api, params: {delay: 300ms, to: [store]}, duration: 60s}
        - {fault: network-partition, target: store, params: {direction: in}, duration: 60s}"""


def experiment(tmp_path: Path, name: str) -> Path:
    return write_experiment(
        tmp_path / f"{name}.yaml",
        targets="    api: {selector: {labels: {app: api}}}\n"
        "    store: {selector: {labels: {app: store}}}",
        probes=HOMEPAGE_PROBE,
        method=METHOD,
        phases="{baseline: 1s, recovery: 2s}",
        extra="  safety: {leaseTtl: 30s}\n",
    )


def lab_for(request: pytest.FixtureRequest, isolation: str) -> Lab:
    if isolation == "netns" and os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs the suite as root: the netns halt test must not be skipped")
        pytest.skip("the netns lab needs root")
    fixture = "resilient_lab" if isolation == "process" else "netns_resilient_lab"
    return request.getfixturevalue(fixture)


def active_faults(lab: Lab) -> list[str]:
    """Whatever the lab's fault machinery still holds, described."""
    if lab.state.control_url is not None:  # process lab: toxics on the proxy's links
        links = proxyctl.list_links(lab.state.control_url)
        return [f"toxic {t} on {link.name}" for link in links for t in link.toxics]
    token = (lab.home / "labs" / lab.state.lab_id / "agent.token").read_text().strip()
    held = []
    for node in lab.state.nodes:
        client = AgentClient(node.agent_url, credentials=AgentCredentials(token=token))
        try:
            held += [f"{node.name}: agent holds {f.get('id')}" for f in client.faults()]
        finally:
            client.close()
        netns = f"/run/netns/{node.netns}"
        for table in ("filter", "nat"):
            chains = iptables.list_our_chains(table=table, netns_pid=netns)
            held += [f"{node.name}: {table} chain {chain}" for chain in chains]
    return held


class Output:
    """Drains a process's output in a thread (a full pipe would stall the run)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def run_id(self) -> str | None:
        return next((m.group(1) for line in self.lines if (m := RUN_LINE.search(line))), None)

    def finish(self) -> str:
        self._thread.join(timeout=10)
        return self.text


def every_fault_applied(store: RunStore, run_id: str | None) -> bool:
    """The run chose its targets and each of them confirmed its fault (from the store)."""
    detail = store.get_run(run_id) if run_id else None
    if detail is None:
        return False
    kinds = [e.kind for e in detail.events]
    selected = next((e.data["selected"] for e in detail.events if e.kind == "targets.selected"), {})
    planned = sum(len(targets) for targets in selected.values())
    return planned > 0 and kinds.count("fault.applied") == planned


@pytest.mark.parametrize("isolation", ["process", "netns"])
def test_halt_from_another_process_reverts_every_fault(request, tmp_path, isolation):
    lab = lab_for(request, isolation)
    path = experiment(tmp_path, f"halt-cmd-{isolation}")
    store = RunStore(lab.db)
    process = lab.start_run(path)
    out = Output(process)
    try:
        wait_for(
            lambda: every_fault_applied(store, out.run_id()) or process.poll() is not None,
            timeout=30,
            what="every fault to be applied",
        )
        run_id = out.run_id()
        assert run_id and process.poll() is None, out.text
        active = active_faults(lab)
        assert active, "the faults should be active before the halt"
        halted_at = time.time()
        halt = lab.chaos("halt", run_id, "--reason", "e2e halt", timeout=30)
        assert halt.returncode == 0, halt.stderr
        assert f"halt requested for run {run_id}" in halt.stdout
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    output = out.finish()
    assert process.returncode == 3, output
    assert "operator halt (e2e halt)" in output
    assert time.time() - halted_at < 20  # not the faults' 60 s

    detail = RunStore(lab.db).get_run(run_id)
    assert detail is not None
    assert detail.run.status.value == "aborted"
    events = detail.events

    def faults(kind: str) -> list[tuple[str, str, str]]:
        return sorted(
            (e.data["step"], e.data["label"], e.data["instance"]) for e in events if e.kind == kind
        )

    applied = faults("fault.applied")
    assert {label for _, label, _ in applied} == {
        "network-latency on api",
        "network-partition on store",
    }
    assert faults("fault.reverted") == applied
    assert not [e for e in events if e.kind in ("fault.revert_failed", "fault.lease_lost")]
    last_revert = max(e.at for e in events if e.kind == "fault.reverted")
    assert last_revert - halted_at < 5, "reverted long after the halt"
    assert active_faults(lab) == []

    again = lab.chaos("halt", run_id)
    assert again.returncode == 2
    assert "already ended (aborted)" in again.stderr and run_id in again.stderr


def test_halt_of_an_unknown_run_is_exit_2(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    env = chaos_env(home=tmp_path, db=db)
    nowhere = run_chaos("halt", "0123456789ab", env=env)  # no store there: none is made
    assert nowhere.returncode == 2 and "no run store at " in nowhere.stderr
    assert not (tmp_path / "runs.db").exists()
    RunStore(db).close()
    result = run_chaos("halt", "0123456789ab", env=env)
    assert result.returncode == 2
    assert "no run '0123456789ab' in the run store" in result.stderr
