"""Each catalogue experiment passes on the resilient lab and fails on the fragile one
(or, where a stop condition guards it, aborts there with exit 3)."""

from __future__ import annotations

import re

import pytest

from chaos.host import proxyctl
from tests.e2e.conftest import EXPERIMENTS, Lab

LAB_EXPERIMENTS = sorted(EXPERIMENTS.glob("lab-*.yaml"))
pytestmark = pytest.mark.slow
# experiment → (exit code, verdict line, what the output says) on the fragile lab
ON_FRAGILE = {"lab-store-outage-load": (3, "ABORTED (exit 3)", "stop condition tripped")}
DEFAULT_ON_FRAGILE = (1, "FAILED (exit 1)", "inject: probe homepage passed")


def no_toxics(lab: Lab) -> bool:
    return all(not link.toxics for link in proxyctl.list_links(lab.state.control_url))


@pytest.mark.parametrize("experiment", LAB_EXPERIMENTS, ids=lambda p: p.stem)
def test_passes_on_the_resilient_lab(resilient_lab: Lab, experiment):
    result = resilient_lab.chaos("run", str(experiment), "--lab", resilient_lab.state.lab_id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED (exit 0)" in result.stdout
    assert "time to recover" in result.stdout
    assert no_toxics(resilient_lab)


@pytest.mark.parametrize("experiment", LAB_EXPERIMENTS, ids=lambda p: p.stem)
def test_passes_on_the_resilient_netns_lab_through_agents(netns_resilient_lab: Lab, experiment):
    """The same experiment, now with real kernel faults applied by each node's agent."""
    lab = netns_resilient_lab
    result = lab.chaos("run", str(experiment), "--lab", lab.state.lab_id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED (exit 0)" in result.stdout
    # applied by the node's agent with a kernel mechanism, and the run says which
    assert re.search(r"applied .*\[(iptables|proxy|signal)\]", result.stdout), result.stdout


@pytest.mark.parametrize("experiment", LAB_EXPERIMENTS, ids=lambda p: p.stem)
def test_fails_on_the_fragile_netns_lab_through_agents(netns_fragile_lab: Lab, experiment):
    lab = netns_fragile_lab
    result = lab.chaos("run", str(experiment), "--lab", lab.state.lab_id)
    code, verdict, _ = ON_FRAGILE.get(experiment.stem, DEFAULT_ON_FRAGILE)
    assert result.returncode == code, result.stdout + result.stderr
    assert verdict in result.stdout


@pytest.mark.parametrize("experiment", LAB_EXPERIMENTS, ids=lambda p: p.stem)
def test_fails_on_the_fragile_lab(fragile_lab: Lab, experiment):
    result = fragile_lab.chaos("run", str(experiment), "--lab", fragile_lab.state.lab_id)
    code, verdict, reason = ON_FRAGILE.get(experiment.stem, DEFAULT_ON_FRAGILE)
    assert result.returncode == code, result.stdout + result.stderr
    assert verdict in result.stdout
    assert reason in result.stdout
    assert no_toxics(fragile_lab)


def test_runs_are_stored_and_listed(resilient_lab: Lab):
    for experiment in LAB_EXPERIMENTS:  # the runs above, or these when run alone
        if experiment.stem not in resilient_lab.chaos("runs", "list", "-n", "50").stdout:
            resilient_lab.chaos("run", str(experiment), "--lab", resilient_lab.state.lab_id)
    result = resilient_lab.chaos("runs", "list", "-n", "50")
    assert result.returncode == 0, result.stderr
    for experiment in LAB_EXPERIMENTS:
        assert experiment.stem in result.stdout
    newest = next(line for line in result.stdout.splitlines() if "lab-" in line)
    run_id = newest.strip("│┃ ").split()[0]
    shown = resilient_lab.chaos("runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    for expected in ("Timeline", "phase.started", "fault.applied", "Probe samples", "Verdict"):
        assert expected in shown.stdout
