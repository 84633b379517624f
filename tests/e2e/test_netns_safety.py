"""No fault outlives the controller, the agent, or the link between them (netns lab, root).

- SIGKILL the controller mid-fault: the agent reverts at lease expiry (≤ TTL + 1 s).
- SIGKILL the agent mid-fault: the lab restarts it and it reverts its journal at start.
- Cut controller↔agent traffic: the agent reverts at lease expiry.
- Requests without credentials: 401 and the node's rules unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chaos.host import iptables
from chaos.lab.manage import lab_status
from tests.e2e.conftest import HOMEPAGE_PROBE, Lab
from tests.e2e.test_run_safety import wait_for_output
from tests.support import wait_for, write_experiment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]
LEASE_TTL_S = 2.0


def experiment(tmp_path: Path, name: str) -> Path:
    """A 60 s partition of the store with a 2 s lease: only a revert can end it early."""
    return write_experiment(
        tmp_path / f"{name}.yaml",
        targets="    store: {selector: {labels: {app: store}}}",
        probes=HOMEPAGE_PROBE,
        method="    - {fault: network-partition, target: store, params: {direction: in}, "
        "duration: 60s}",
        phases="{baseline: 1s, recovery: 3s}",
        extra=f"  safety: {{leaseTtl: {LEASE_TTL_S:g}s}}\n",
    )


def store_netns(lab: Lab) -> str:
    return "/run/netns/" + next(n.netns for n in lab.state.nodes if n.name == "store")


def our_chains(lab: Lab) -> list[str]:
    return iptables.list_our_chains(table="filter", netns_pid=store_netns(lab))


def start_and_wait_applied(lab: Lab, path: Path) -> subprocess.Popen[str]:
    process = lab.start_run(path)
    try:
        wait_for_output(process, "applied")
    except BaseException:
        process.kill()
        raise
    assert our_chains(lab), "the partition chain should be installed"
    return process


def test_killed_controller_is_reverted_within_the_lease(netns_resilient_lab: Lab, tmp_path):
    lab = netns_resilient_lab
    process = start_and_wait_applied(lab, experiment(tmp_path, "ns-sigkill"))
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = time.monotonic()
    wait_for(lambda: our_chains(lab) == [], timeout=LEASE_TTL_S + 3, what="the lease revert")
    assert time.monotonic() - killed <= LEASE_TTL_S + 1


def test_killed_agent_reverts_its_journal_when_restarted(netns_resilient_lab: Lab, tmp_path):
    lab = netns_resilient_lab
    process = start_and_wait_applied(lab, experiment(tmp_path, "ns-agentkill"))
    try:
        node = next(
            n
            for n in lab_status(chaos_home=lab.home, lab_id=lab.state.lab_id).nodes
            if n.name == "store"
        )
        os.kill(node.agent_pid, signal.SIGKILL)  # the lab's own agent process
        time.sleep(0.3)
        assert our_chains(lab), "a SIGKILLed agent cannot revert: the rules are still there"
        # whichever comes first reverts: the restarted agent (its journal, at start) or
        # the dead agent's watchdog (at lease expiry); never both (tests/agent/test_deadman.py)
        wait_for(
            lambda: our_chains(lab) == [],
            timeout=10,
            what="the restarted agent or the watchdog to revert the journal",
        )

        def restarted() -> bool:
            nodes = lab_status(chaos_home=lab.home, lab_id=lab.state.lab_id).nodes
            store = next(n for n in nodes if n.name == "store")
            return store.agent_pid != node.agent_pid

        wait_for(restarted, timeout=15, what="the lab to restart the agent")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode in (3, 4), output  # halted; the lost lease is reported
    assert our_chains(lab) == []


def test_cut_link_is_reverted_at_lease_expiry(netns_resilient_lab: Lab, tmp_path):
    lab = netns_resilient_lab
    process = start_and_wait_applied(lab, experiment(tmp_path, "ns-cut"))
    block = ["iptables", "-w", "-I", "INPUT", "1", "-p", "tcp", "--dport", "7070", "-j", "DROP"]
    netns = store_netns(lab)
    subprocess.run(["nsenter", f"--net={netns}", "--", *block], check=True)
    try:
        cut = time.monotonic()
        wait_for(
            lambda: our_chains(lab) == [],
            timeout=LEASE_TTL_S + 3,
            what="the agent to revert when renewals stop arriving",
        )
        assert time.monotonic() - cut <= LEASE_TTL_S + 1 + LEASE_TTL_S / 3
    finally:
        unblock = ["iptables", "-w", "-D", "INPUT", "-p", "tcp", "--dport", "7070", "-j", "DROP"]
        subprocess.run(["nsenter", f"--net={netns}", "--", *unblock], check=True)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode in (3, 4), output


def test_unauthenticated_requests_change_nothing(netns_resilient_lab: Lab):
    lab = netns_resilient_lab
    agent = next(n.agent_url for n in lab.state.nodes if n.name == "store")
    before = iptables.ruleset(store_netns(lab))
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        request = urllib.request.Request(f"{agent}/v1/faults", method="DELETE", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code in (401, 403)
    assert iptables.ruleset(store_netns(lab)) == before


def test_the_token_never_reaches_logs_or_stored_runs(netns_resilient_lab: Lab):
    lab = netns_resilient_lab
    # runs of this lab (the tests above) are in its store; its agents have logged
    token = (lab.home / "labs" / lab.state.lab_id / "agent.token").read_text().strip()
    assert len(token) >= 32
    scanned = 0
    for path in [*lab.home.rglob("*.log"), *lab.home.glob("*.db*")]:
        assert token.encode() not in path.read_bytes(), f"token found in {path}"
        scanned += 1
    assert scanned > 0
