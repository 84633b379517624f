"""The dead-man's switch: an agent SIGKILLed mid-fault and never restarted leaves nothing
behind once the leases end (its watchdog reverts from the journal), and a restarted agent
and the watchdog never both revert a fault.

Real parts: a `chaos agent serve` process, a network namespace with iptables chains (a
partition, a loss, the latency REDIRECT and its delay proxy), a tbf qdisc, a stressor,
a fill file on a loop-mounted ext4 filesystem. Needs root.
"""

from __future__ import annotations

import os
import time

import pytest

from chaos.agent.journal import UndoJournal
from chaos.host import procs
from tests.agent.deadman_lab import (
    AgentProcess,
    node,
    reverted_lines,
    six_faults,
    stop_leftovers,
    wait_gone,
    watchdogs,
)
from tests.agent.test_server import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netns, iptables, mount)")

TTL_S = 3.0
BOUND_S = TTL_S + 5.0  # the promise in docs/agent.md: gone within lease TTL + 5 s


def _all_in_place(lab, faults: dict) -> None:
    rules = lab.iptables()
    assert rules.count("-j DROP") >= 1 and "REDIRECT" in rules and "statistic" in rules
    assert "tbf" in lab.qdiscs()
    assert lab.fill_files()
    for fault_id in faults:
        if fault_id.endswith(("-cpu", "-lat")):
            assert procs.find_tagged(fault_id), f"no helper process for {fault_id}"


def _all_gone(lab, faults: dict) -> bool:
    rules = lab.iptables()
    helpers = [fid for fid in faults if procs.find_tagged(fid)]
    clean = "chaos" not in rules and "-A " not in rules and "tbf" not in lab.qdiscs()
    return clean and not lab.fill_files() and not helpers


def test_a_killed_agent_that_nothing_restarts_leaves_nothing_once_the_leases_end(tmp_path):
    journal = tmp_path / "journal"
    with node(tmp_path) as lab:
        faults = six_faults(lab, "dm1", ttl_s=TTL_S)
        agent = AgentProcess(journal, tmp_path / "agent.log", free_port())
        try:
            for body in faults.values():
                agent.client.apply(body)
            applied_at = time.monotonic()
            _all_in_place(lab, faults)
            assert len(watchdogs(journal)) == 1
            agent.kill()  # SIGKILL; nothing restarts it
            assert watchdogs(journal), "the watchdog must outlive the agent"
            time.sleep(1.0)
            _all_in_place(lab, faults)  # not before the lease ends: a live run keeps them
            remaining = BOUND_S - (time.monotonic() - applied_at)
            wait_gone(
                "every fault to be reverted", lambda: _all_gone(lab, faults), within_s=remaining
            )
            wait_gone("the watchdog to exit", lambda: not watchdogs(journal), within_s=3)
            log = (journal / "watchdog.log").read_text()
            for fault_id in faults:
                assert reverted_lines(log, fault_id) == 1, log
            assert UndoJournal(journal).pending() == []
            assert list((journal / "leases").iterdir()) == []
            assert time.monotonic() - applied_at >= TTL_S - 0.5  # it waited for the lease
        finally:
            agent.stop()
            stop_leftovers(journal, list(faults))


def test_a_restarted_agent_and_the_watchdog_revert_each_fault_once(tmp_path):
    journal = tmp_path / "journal"
    port = free_port()
    with node(tmp_path) as lab:
        faults = six_faults(lab, "dm2", ttl_s=TTL_S)
        first = AgentProcess(journal, tmp_path / "agent1.log", port)
        second = None
        try:
            for body in faults.values():
                first.client.apply(body)
            first.kill()
            # restart as the leases end: the watchdog and the new agent race for them
            time.sleep(TTL_S - 0.3)
            second = AgentProcess(journal, tmp_path / "agent2.log", port)
            wait_gone("every fault to be reverted", lambda: _all_gone(lab, faults), within_s=5)
            assert second.client.health()["stuck"] == []
            logs = (tmp_path / "agent2.log").read_text()
            watchdog_log = (journal / "watchdog.log").read_text()
            for fault_id in faults:
                total = reverted_lines(logs, fault_id) + reverted_lines(watchdog_log, fault_id)
                assert total == 1, (fault_id, logs, watchdog_log)
            assert len(watchdogs(journal)) == 1  # one watchdog per journal directory
            second.stop()  # SIGTERM: nothing pending, so the watchdog leaves too
            wait_gone("the watchdog to exit", lambda: not watchdogs(journal), within_s=5)
        finally:
            first.stop()
            if second is not None:
                second.stop()
            stop_leftovers(journal, list(faults))


def test_a_killed_agent_restarted_at_once_reverts_everything_itself(tmp_path):
    journal = tmp_path / "journal"
    port = free_port()
    with node(tmp_path) as lab:
        faults = six_faults(lab, "dm3", ttl_s=60)
        first = AgentProcess(journal, tmp_path / "agent1.log", port)
        second = None
        try:
            for body in faults.values():
                first.client.apply(body)
            first.kill()
            second = AgentProcess(journal, tmp_path / "agent2.log", port)
            # reverted at its start, long before the 60 s leases would end
            wait_gone("every fault to be reverted", lambda: _all_gone(lab, faults), within_s=5)
            logs = (tmp_path / "agent2.log").read_text()
            assert all(reverted_lines(logs, fid) == 1 for fid in faults), logs
            assert "reverted" not in (journal / "watchdog.log").read_text()
        finally:
            first.stop()
            if second is not None:
                second.stop()
            stop_leftovers(journal, list(faults))
