"""A fault the agent drops before its duration ends can never yield a pass: the run
stops injecting, reverts the rest and ends exit 4 naming the fault and its node.

Real parts: an agent on loopback holding a ``noop`` fault on a real process, a real
HTTP probe, a real SQLite store. The lease is lost the way a restarted agent loses
it: the agent reverts the fault on its own (here through its API, as its journal
replay at start would), and the next renewal finds it unknown.
"""

from __future__ import annotations

import threading
import time

from chaos.controller.events import RunStatus
from chaos.report.document import build_document
from chaos.store.repository import RunStore, sqlite_url
from tests.controller.runs import experiment_text, make_run
from tests.support import wait_for


def drop_once_held(agent, *, after_s: float) -> threading.Thread:
    def drop() -> None:
        client = agent.client()
        wait_for(lambda: client.faults() != [], timeout=15, what="the agent to hold the fault")
        time.sleep(after_s)
        for fault in client.faults():
            client.revert(fault["id"])

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    return thread


def test_a_fault_the_agent_dropped_early_ends_the_run_exit_4(api_process, homepage, tmp_path):
    agent = api_process
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    run = make_run(experiment_text(homepage, fault_s=8), store=store, home=tmp_path)
    dropper = drop_once_held(agent, after_s=1.0)
    started = time.monotonic()
    result = run()
    elapsed = time.monotonic() - started
    dropper.join(timeout=5)

    assert result.status is RunStatus.ERROR and int(result.exit_code) == 4, result.reasons
    reason = result.reasons[0]
    assert reason.startswith("fault noop on api [api (pid ")
    assert "on node n1 was dropped by the agent after " in reason
    assert "of its 8s (lease lost): the experiment did not test what it says" in reason
    held = float(reason.split(" after ")[1].split("s of its")[0])
    assert 1.0 <= held < 3.0  # noticed within a renewal or two (leaseTtl 1s)
    assert elapsed < 8, "the run must stop at once, not hold on for the fault's duration"
    assert "fault.lease_lost" in run.kinds()
    assert "recovery.measured" not in run.kinds()  # no pass to measure towards
    assert agent.client().faults() == []

    stored = store.get_run(result.run_id)
    assert stored.run.status is RunStatus.ERROR and stored.run.exit_code == 4
    assert stored.run.reasons[0] == reason
    lost = [e for e in stored.events if e.kind == "fault.lease_lost"]
    assert len(lost) == 1 and lost[0].data["node"] == "n1"
    faults = build_document(stored)["faults"]  # what every report shows of the fault
    assert [(f["outcome"], f["node"]) for f in faults] == [("lease_lost", "n1")]
    assert faults[0]["message"] == reason


def test_an_agent_killed_mid_fault_ends_the_run_exit_4(killable_agent, homepage, tmp_path):
    """Its lease runs out unrenewed: whatever becomes of the fault, it was not held for
    its duration, and its revert cannot be confirmed either."""
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    run = make_run(experiment_text(homepage, fault_s=8), store=store, home=tmp_path)

    def kill_once_held() -> None:
        client = killable_agent.client()
        wait_for(lambda: client.faults() != [], timeout=15, what="the agent to hold the fault")
        client.close()
        killable_agent.kill()

    killer = threading.Thread(target=kill_once_held, daemon=True)
    killer.start()
    started = time.monotonic()
    result = run()
    killer.join(timeout=5)
    assert int(result.exit_code) == 4, result.reasons
    assert time.monotonic() - started < 8
    lost, unreverted = result.reasons[0], result.reasons[1]
    assert " on node n1 lost its lease after " in lost
    assert "(its lease ran out: the agent could not be reached to renew it (" in lost
    assert lost.endswith("the experiment did not test what it says")
    assert unreverted.startswith("could not confirm revert of: noop on api [api (pid ")
    assert "may still be in place on node n1" in unreverted
    assert "restart the agent on n1: it reverts its journal at start" in unreverted
    assert "by itself" not in " ".join(result.reasons)


def test_a_fault_held_for_its_whole_duration_still_passes(api_process, homepage, tmp_path):
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    run = make_run(experiment_text(homepage, fault_s=2), store=store, home=tmp_path)
    result = run()
    assert result.status is RunStatus.PASSED and int(result.exit_code) == 0, result.reasons
    assert "fault.lease_lost" not in run.kinds()
    assert api_process.client().faults() == []
