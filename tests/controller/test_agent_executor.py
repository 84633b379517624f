"""The controller side of leases, against real agents on loopback."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from chaos.controller.agent_client import AgentCredentials
from chaos.controller.agent_executor import AgentExecutor
from chaos.errors import FaultError, RevertError
from chaos.faults import CATALOG
from chaos.plan.planner import PlannedFault
from chaos.spec.models import TargetKind
from chaos.targets.base import Target
from tests.conftest import TOKEN
from tests.support import wait_for


def planned(agent_url: str, fault_id: str = "f1") -> PlannedFault:
    target = Target(
        kind=TargetKind.PROCESS,
        uid="u",
        display="thing",
        node="n1",
        attributes={"agent": agent_url},
    )
    return PlannedFault(
        fault_id=fault_id,
        key="k",
        step_path="spec.method[0]",
        label="noop",
        fault=CATALOG["noop"],
        params=CATALOG["noop"].params(),
        target_name="thing",
        target=target,
        peers={},
        duration=1.0,
    )


@pytest.fixture
def executor():
    lost = []
    made = AgentExecutor(
        credentials=AgentCredentials(token=TOKEN),
        lease_ttl_s=0.6,
        on_lease_lost=lambda applied, why: lost.append((applied, why)),
    )
    made.lost = lost
    yield made
    made.close()


def test_leases_are_renewed_while_the_controller_lives(start_agent, executor):
    agent = start_agent()
    applied = executor.apply(planned(agent.url), ttl_s=None)
    time.sleep(2.0)  # more than three lease lifetimes
    assert [f["id"] for f in agent.client().faults()] == ["f1"]
    executor.revert(applied)
    assert agent.client().faults() == []


def test_when_renewals_stop_the_agent_reverts_at_expiry(start_agent, executor):
    agent = start_agent()
    executor.apply(planned(agent.url), ttl_s=None)
    executor.close()  # as if the controller died: no more renewals
    stopped = time.monotonic()
    wait_for(lambda: agent.client().faults() == [], timeout=3, what="lease expiry")
    assert time.monotonic() - stopped <= 0.6 + 1.0


def test_a_fault_the_agent_dropped_is_reported_as_lost(start_agent, executor):
    agent = start_agent()
    executor.apply(planned(agent.url), ttl_s=None)
    agent.client().revert("f1")  # e.g. the agent restarted and reverted its journal
    wait_for(lambda: executor.lost != [], timeout=3, what="the lost lease to be noticed")
    applied, why = executor.lost[0]
    assert applied.planned.fault_id == "f1" and why is None


def test_a_lease_not_renewed_for_its_ttl_is_reported_as_run_out(start_agent, executor):
    agent = start_agent()
    applied = executor.apply(planned(agent.url), ttl_s=None)
    agent.stop(revert=False)  # no more answers: every renewal fails from here
    executor.client(agent.url).close()
    stopped = time.monotonic()
    wait_for(lambda: executor.lost != [], timeout=5, what="the run-out lease to be noticed")
    assert time.monotonic() - stopped <= 0.6 + 0.2 + 0.5  # TTL + a renewal interval + slack
    lost, why = executor.lost[0]
    assert lost is applied
    assert why.startswith("its lease ran out: the agent could not be reached to renew it (")
    time.sleep(0.5)
    assert len(executor.lost) == 1  # reported once


def test_unreachable_agent_on_apply_says_what_may_be_in_place(executor):
    with pytest.raises(FaultError) as raised:
        executor.apply(planned("http://127.0.0.1:9"), ttl_s=None)
    message = str(raised.value)
    assert "unreachable" in message
    assert "if the agent applied it, fault f1 (noop on thing) may still be in place" in message
    assert "restart the agent on n1" in message
    assert "by itself" not in message


def test_a_dead_agent_revert_says_what_is_known_not_what_will_happen(executor, start_agent):
    """With the agent gone, nothing can promise the fault goes away by itself: the message
    names the fault and node, when its lease ends, and how to clear it."""
    agent = start_agent()
    applied = executor.apply(planned(agent.url, "f2"), ttl_s=None)
    time.sleep(0.5)  # at least one renewal (every 0.2 s)
    agent.stop(revert=False)  # as a SIGKILL would: the fault stays in the journal
    executor.client(agent.url).close()  # the agent's process is gone, its connections too
    failed_at = time.time()
    with pytest.raises(RevertError) as raised:
        executor.revert(applied)
    message = str(raised.value)
    assert "by itself" not in message and "within" not in message
    assert "fault f2 (noop on thing) may still be in place on node n1" in message
    ends = re.search(r"its lease ends at about (\d\d:\d\d:\d\d) UTC", message)
    assert ends is not None, message
    # the lease runs 0.6 s from the last renewal, which was at most 0.5 s ago
    lease_end = dt.datetime.strptime(ends[1], "%H:%M:%S").time()
    now = dt.datetime.fromtimestamp(failed_at, dt.UTC)
    window = {
        (now + dt.timedelta(seconds=delta)).time().replace(microsecond=0) for delta in (-1, 0, 1)
    }
    assert lease_end in window
    assert "the agent's watchdog reverts it if one runs there" in message
    assert "otherwise restart the agent on n1: it reverts its journal at start" in message
    assert raised.value.node == "n1"
