"""The agent refuses, on its own, to signal or enter processes that could take the node
down, and anything outside its scope: real processes, nothing signalled, nothing
journaled, the fault id still free."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.agent.guards import OutOfScope, Refused
from chaos.agent.scope import Runtime, ScopePolicy
from chaos.agent.service import AgentService, Gone
from chaos.errors import FaultError
from chaos.host import procfs
from chaos.spec.models import TargetKind
from tests.agent.guard_support import (
    LAB,
    Proc,
    identity,
    kill_request,
    lab_env,
    make_service,
    only_child,
    request,
    started,
)
from tests.support import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the guards are tested as root")
SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AgentService]:
    agent = make_service(tmp_path, ScopePolicy(labs=(LAB,)))
    yield agent
    agent.shutdown()


def journal_text(tmp_path: Path) -> str:
    path = tmp_path / "journal" / "journal.jsonl"
    return path.read_text() if path.exists() else ""


def refused_kill(service: AgentService, proc: Proc, fault_id: str, match: str) -> None:
    with pytest.raises(Refused, match=match):
        service.apply(kill_request(proc, fault_id))
    assert service.list_active() == []


def test_pid_1_of_the_host_is_refused(service, tmp_path):
    refused_kill(service, identity(1), "k1", "PID 1 of the host")
    assert "k1" not in journal_text(tmp_path)
    assert service.metrics.requests_refused == 1


def test_the_agent_itself_and_its_ancestors_are_refused(service):
    refused_kill(service, identity(os.getpid()), "k-self", "this agent or one of its ancestors")
    parent = identity(os.getppid())  # whatever started pytest
    refused_kill(service, parent, "k-parent", "ancestors")
    assert parent.alive()


def _kthreadd_visible() -> bool:
    """PID 2 is kthreadd in the host's PID namespace (not inside a container's)."""
    try:
        return Path("/proc/2/comm").read_text().strip() == "kthreadd"
    except OSError:
        return False


@pytest.mark.skipif(not _kthreadd_visible(), reason="kthreadd is not visible here")
def test_a_kernel_thread_is_refused(service):
    kthreadd = identity(2)
    assert procfs.is_kernel_thread(2)
    refused_kill(service, kthreadd, "k-kthread", "kernel thread")


def test_a_node_daemon_is_refused_by_its_executable(service, tmp_path):
    """A process whose executable is called dockerd is never signalled, even in scope."""
    fake = tmp_path / "dockerd"
    shutil.copy(SLEEP, fake)
    with started([str(fake), "60"], env=lab_env()) as process:
        proc = identity(process.pid)
        refused_kill(service, proc, "k-daemon", "dockerd, a node daemon")
        assert proc.alive()


def test_pid_1_of_a_pid_namespace_is_refused_to_signals(service):
    argv = ["unshare", "--pid", "--fork", "--kill-child", SLEEP, "60"]
    with started(argv, env=lab_env()) as process:
        init = identity(only_child(process.pid))
        assert procfs.namespace_pids(init.pid)[-1] == 1
        refused_kill(service, init, "k-nsinit", "PID 1 of its own PID namespace")
        assert init.alive()


def test_a_process_outside_the_scope_is_403_and_still_alive(service):
    with started([SLEEP, "60"], env=lab_env("another-lab")) as process:
        proc = identity(process.pid)
        with pytest.raises(OutOfScope, match="outside this agent's scope"):
            service.apply(kill_request(proc, "k-scope"))
        assert proc.alive()
        # the id was not used up by the refusal: the same id may be sent again
        with pytest.raises(OutOfScope):
            service.apply(kill_request(proc, "k-scope"))


def test_a_lab_process_in_scope_is_killed(service):
    """The positive control: the guards let a plain process of the agent's lab through."""
    with started([SLEEP, "60"], env=lab_env()) as process:
        created, fault = service.apply(kill_request(identity(process.pid), "k-ok"))
        assert created and "sent SIGTERM" in fault["detail"]
        assert process.wait(timeout=5) == -15


def test_a_cgroup_prefix_puts_processes_in_scope(tmp_path):
    with started([SLEEP, "60"], env=lab_env("not-in-any-scope")) as process:
        (cgroup,) = procfs.cgroup_paths(process.pid)[-1:]
        agent = make_service(tmp_path, ScopePolicy(cgroups=(cgroup,)))
        try:
            agent.apply(kill_request(identity(process.pid), "k-cg"))
            assert process.wait(timeout=5) == -15
        finally:
            agent.shutdown()


def test_a_container_target_cannot_bring_its_own_pid(service):
    """kind: container with pid 1 in the request: the agent ignores the PID and asks the
    runtime, which knows no such container."""
    init = identity(1)
    hostile = kill_request(init, "k-ctr")
    hostile["fault"] = "network-partition"
    hostile["params"] = {}
    hostile["target"].update(kind="container", attributes={"container_id": "docker://" + "f" * 64})
    with pytest.raises(Gone):
        service.apply(hostile)
    assert service.list_active() == []


def test_faults_of_the_controller_are_refused_by_an_agent(service):
    hostile = request("pod-kill", "k-pod", kind=TargetKind.POD, attributes={"namespace": "default"})
    with pytest.raises(Refused, match="applied by the controller"):
        service.apply(hostile)


def test_node_faults_need_the_node_scope(service, tmp_path):
    with pytest.raises(OutOfScope, match="--scope-node"):
        service.apply(request("noop", "n-1"))
    agent = make_service(tmp_path / "node", ScopePolicy(node=True))
    try:
        assert agent.apply(request("noop", "n-1"))[0]
    finally:
        agent.shutdown()


def test_an_agent_without_scope_refuses_everything(tmp_path):
    agent = make_service(tmp_path, ScopePolicy())
    try:
        assert "every fault is refused" in agent.health()["scope"]
        with pytest.raises(OutOfScope):
            agent.apply(request("noop", "e-1"))
        with started([SLEEP, "60"], env=lab_env()) as process:
            proc = identity(process.pid)
            with pytest.raises(OutOfScope):
                agent.apply(kill_request(proc, "e-2"))
            assert proc.alive()
    finally:
        agent.shutdown()


def test_entering_a_container_init_is_allowed_but_never_signalling_it(service):
    """Network faults enter a namespace through its init: only signals refuse PID 1 of a
    PID namespace, the guard's other refusals hold for every fault."""
    from chaos.host.protected import dangerous

    argv = ["unshare", "--pid", "--fork", "--kill-child", SLEEP, "60"]
    with started(argv, env=lab_env()) as process:
        init = only_child(process.pid)
        assert dangerous(init, signals=False) is None
        assert "PID namespace" in (dangerous(init, signals=True) or "")
    assert "PID 1" in (dangerous(1, signals=False) or "")
    if _kthreadd_visible():
        assert "kernel thread" in (dangerous(2, signals=False) or "")


def test_the_real_http_agent_answers_422_and_403(start_agent):
    from chaos.errors import AgentError

    agent = start_agent(scope=ScopePolicy(labs=(LAB,)))
    client = agent.client()
    with pytest.raises(AgentError, match=r"422.*PID 1 of the host"):
        client.apply(kill_request(identity(1), "h-1"))
    with started([SLEEP, "60"], env=lab_env("elsewhere")) as process:
        proc = identity(process.pid)
        with pytest.raises(AgentError, match=r"403.*outside this agent's scope"):
            client.apply(kill_request(proc, "h-2"))
        assert proc.alive()
    wait_for(lambda: client.faults() == [], timeout=1, what="no active fault")
    assert "chaos_agent_refused_faults_total 2" in _metrics(agent.url)


def _metrics(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return response.read().decode()


def test_cli_scope_flags_reach_the_agent(tmp_path):
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "chaos", "agent", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    for flag in ("--scope-lab", "--scope-cgroup", "--scope-runtime", "--scope-node"):
        assert flag in result.stdout


def test_the_lab_proxy_url_must_be_loopback(tmp_path):
    """A process-lab target names its proxy's control URL: an agent never follows it off
    the host (no requests to other machines on the agent's network on a request's say)."""
    agent = make_service(tmp_path, ScopePolicy(node=True))
    try:
        for url in ("http://10.1.2.3:9000", "http://metadata.internal/", "file:///etc/passwd"):
            hostile = request(
                "network-latency", "l-1", attributes={"lab_control": url}, delay="100ms"
            )
            with pytest.raises(Refused, match="loopback"):
                agent.apply(hostile)
        assert agent.list_active() == []
    finally:
        agent.shutdown()


def test_docker_api_faults_need_docker_in_scope_and_use_the_local_docker(tmp_path):
    attributes = {
        "container_id": "docker://" + "e" * 64,
        "docker_url": "tcp://10.255.255.1:2376",  # not ours: must never be dialled
        "docker_host": "h1",
        "name": "nope",
    }
    hostile = request("container-pause", "r-1", kind=TargetKind.CONTAINER, attributes=attributes)
    agent = make_service(tmp_path, ScopePolicy(labs=(LAB,)))
    try:
        with pytest.raises(OutOfScope, match="--scope-runtime docker"):
            agent.apply(hostile)
    finally:
        agent.shutdown()
    agent = make_service(tmp_path / "docker", ScopePolicy(runtimes=frozenset({Runtime.DOCKER})))
    try:
        # the node's own Docker answers at once (no such container, or no Docker here): a
        # dial to the request's unroutable address would hang for the timeout, then name it
        started_at = time.monotonic()
        with pytest.raises(FaultError) as caught:
            agent.apply(hostile)
        assert time.monotonic() - started_at < 3
        assert "10.255.255.1" not in str(caught.value)
        assert agent.list_active() == []
    finally:
        agent.shutdown()


def test_a_fault_is_refused_on_a_kind_of_target_it_does_not_take(service):
    """process-kill on a "pod": refused before the agent resolves anything."""
    hostile = kill_request(identity(1), "k-kind")
    hostile["target"].update(kind="pod", attributes={"container_id": "containerd://" + "a" * 64})
    with pytest.raises(Refused, match="acts on process targets, not on a pod"):
        service.apply(hostile)
