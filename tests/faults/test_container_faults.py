"""container-kill, container-stop and container-pause on real containers, through the
in-process executor; the container's state is checked with ``docker inspect``."""

from __future__ import annotations

import json

import pytest

from chaos.controller.executor import AppliedFault, LocalExecutor
from chaos.errors import FaultError
from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext, Undo, Where
from chaos.faults.container import KillParams, PauseParams, StopParams
from chaos.plan.planner import PlannedFault
from chaos.spec.base import FaultParams
from chaos.spec.models import DockerHost, Selector, TargetKind
from chaos.targets.base import Scope, Target
from chaos.targets.docker import DockerBackend
from tests import docker_lab as lab

pytestmark = pytest.mark.docker

docker_image = lab.docker_image
docker_lab = lab.docker_lab

BACKEND = DockerBackend([DockerHost(name="local")])
EXECUTOR = LocalExecutor(backends={TargetKind.CONTAINER: BACKEND})
HOST = HostContext(node="controller")


def target_of(container: lab.Container) -> Target:
    (target,) = BACKEND.candidates(selector=Selector(names=(container.name,)), scope=Scope())
    return target


def planned(fault: str, target: Target, params: FaultParams) -> PlannedFault:
    return PlannedFault(
        fault_id=f"{fault}-t0",
        key="chaos-test-s0",
        step_path="spec.method[0]",
        label=fault,
        fault=CATALOG[fault],
        params=params,
        target_name="web",
        target=target,
        peers={},
        duration=1.0,
    )


def journaled(applied: AppliedFault) -> AppliedFault:
    """The fault as an agent's journal would give it back: its Undo through JSON."""
    undo = Undo.from_json(json.loads(json.dumps(applied.undo.to_json())))
    return AppliedFault(planned=applied.planned, undo=undo, applied_at=applied.applied_at)


def test_the_three_faults_act_from_the_controller_on_containers_only():
    for name in ("container-kill", "container-stop", "container-pause"):
        fault = CATALOG[name]
        assert fault.where is Where.RUNTIME
        assert fault.target_kinds == frozenset({TargetKind.CONTAINER})
    assert not CATALOG["container-kill"].reversible
    assert CATALOG["container-stop"].reversible and CATALOG["container-pause"].reversible


@pytest.mark.parametrize(("signal", "exit_code"), [("KILL", "137"), ("TERM", "0")])
def test_kill_sends_the_signal_and_is_irreversible(docker_lab: lab.DockerLab, signal, exit_code):
    web = docker_lab.start("web")
    applied = EXECUTOR.apply(
        planned("container-kill", target_of(web), KillParams(signal=signal)), ttl_s=None
    )
    assert docker_lab.wait_status(web, "exited") == "exited"
    assert docker_lab.inspect(web, "{{.State.ExitCode}}") == exit_code
    assert applied.undo.detail == f"sent SIG{signal} to container {web.name} on local"
    EXECUTOR.revert(applied)  # nothing to take back, on purpose
    assert docker_lab.status(web) == "exited"


def test_prepare_touches_nothing_and_keeps_what_revert_needs(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    target = target_of(web)
    for name, params in (
        ("container-kill", KillParams()),
        ("container-stop", StopParams()),
        ("container-pause", PauseParams()),
    ):
        request = FaultRequest(fault_id="f1", key="k", target=target, params=params)
        undo = CATALOG[name].prepare(request, HOST)
        assert json.loads(json.dumps(undo.to_json()))["data"] == {
            "docker_url": "",
            "container_id": web.id,
            "name": web.name,
            "docker_host": "local",
        }
        assert undo.fault == name and undo.backend == "docker-api"
    assert docker_lab.status(web) == "running"


def test_stop_then_revert_starts_the_same_container_again(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    fault = planned("container-stop", target_of(web), StopParams(timeout="2s"))
    applied = EXECUTOR.apply(fault, ttl_s=None)
    assert docker_lab.status(web) == "exited"
    assert "stopped container" in applied.undo.detail and "2s" in applied.undo.detail
    EXECUTOR.revert(journaled(applied))
    assert docker_lab.status(web) == "running"
    started = docker_lab.inspect(web, "{{.State.StartedAt}}")
    EXECUTOR.revert(journaled(applied))  # idempotent: a running container is left alone
    assert docker_lab.inspect(web, "{{.State.StartedAt}}") == started


def test_stop_revert_of_a_removed_container_has_nothing_to_restore(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    applied = EXECUTOR.apply(planned("container-stop", target_of(web), StopParams()), ttl_s=None)
    docker_lab.remove(web)
    EXECUTOR.revert(applied)  # logged, not an error: nothing can bring it back
    assert docker_lab.status(web) == "gone"


def test_pause_then_revert_unpauses(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    applied = EXECUTOR.apply(planned("container-pause", target_of(web), PauseParams()), ttl_s=None)
    assert docker_lab.status(web) == "paused"
    assert docker_lab.inspect(web, "{{.State.Paused}}") == "true"
    assert applied.undo.detail == f"paused container {web.name} on local"
    EXECUTOR.revert(journaled(applied))
    assert docker_lab.status(web) == "running"
    assert docker_lab.inspect(web, "{{.State.Paused}}") == "false"
    EXECUTOR.revert(applied)  # idempotent
    assert docker_lab.status(web) == "running"


def test_pause_revert_leaves_a_container_that_stopped_meanwhile_alone(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    applied = EXECUTOR.apply(planned("container-pause", target_of(web), PauseParams()), ttl_s=None)
    lab.docker("unpause", web.id)
    lab.docker("stop", web.id)
    EXECUTOR.revert(applied)
    assert docker_lab.status(web) == "exited"  # unpause only: the revert never starts anything


def test_a_container_gone_before_injection_is_a_clear_error(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    target = target_of(web)
    docker_lab.remove(web)
    with pytest.raises(FaultError, match="vanished before injection") as raised:
        EXECUTOR.apply(planned("container-kill", target, KillParams()), ttl_s=None)
    assert raised.value.target == "web" and raised.value.node == "local"
    # straight to the fault module (the container went between the check and the kill)
    fault = CATALOG["container-kill"]
    request = FaultRequest(fault_id="f1", key="k", target=target, params=KillParams())
    with pytest.raises(FaultError, match=rf"container-kill: container {web.name} on local is gone"):
        fault.apply(request, fault.prepare(request, HOST), HOST)


def test_a_failed_apply_leaves_nothing_applied(docker_lab: lab.DockerLab):
    web = docker_lab.start("web")
    target = target_of(web)
    lab.docker("stop", web.id)  # exited after selection: the daemon refuses to pause it
    fault = CATALOG["container-pause"]
    request = FaultRequest(fault_id="f1", key="k", target=target, params=PauseParams())
    with pytest.raises(FaultError, match="is not running"):
        fault.apply(request, fault.prepare(request, HOST), HOST)
    assert docker_lab.status(web) == "exited"


def test_a_signal_docker_does_not_know_is_refused_by_the_params():
    with pytest.raises(ValueError, match="signal"):
        KillParams(signal="STOPALL")
    with pytest.raises(ValueError, match="duration"):
        StopParams(timeout=10)  # a bare number is ambiguous, as everywhere in the format
