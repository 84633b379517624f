"""Node faults inside real Docker containers through a real agent: a whole ``chaos run``
partitions one container and fills a tmpfs in another, the agent resolving each
container to its PID through the Docker API; and a container pause held by the agent's
lease is undone at lease expiry when the controller stops renewing it."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from chaos.faults import wire
from chaos.faults.base import FaultRequest
from chaos.faults.container import PauseParams
from chaos.spec.models import DockerHost, Selector
from chaos.store.repository import RunStore
from chaos.targets.base import Scope
from chaos.targets.docker import DockerBackend
from tests import docker_lab as lab
from tests.conftest import TOKEN
from tests.e2e.test_docker_run import answers, write_experiment
from tests.support import chaos_env, free_base_port, run_chaos, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]

docker_image = lab.docker_image
docker_lab = lab.docker_lab


@pytest.fixture(autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.skip("iptables and nsenter in a container's namespaces need root")


def chaos_run(experiment: Path, home: Path, token_file: Path) -> subprocess.CompletedProcess[str]:
    return run_chaos(
        "run",
        str(experiment),
        "--agent-token-file",
        str(token_file),
        env=chaos_env(home=home, db=f"sqlite:///{home / 'runs.db'}"),
        timeout=180,
    )


class Watcher(threading.Thread):
    """Polls the container's /data from inside it while the run goes on."""

    def __init__(self, lab_: lab.DockerLab, container: lab.Container) -> None:
        super().__init__(daemon=True)
        self.lab, self.container = lab_, container
        self.seen_fill = False
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            listing = lab.docker(
                "exec", self.container.id, "/bin/busybox", "ls", "-a", "/data", check=False
            )
            if b".chaos-fill-" in listing.stdout:
                self.seen_fill = True


def test_partition_and_disk_fill_inside_containers_through_the_agent(
    docker_lab: lab.DockerLab, start_agent, tmp_path
):
    agent = start_agent()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    port = free_base_port(1)
    web = docker_lab.start("web", labels={"app": "web"}, port=port)
    store = docker_lab.start("store", labels={"app": "store"}, options=["--tmpfs", "/data:size=8m"])
    wait_for(lambda: answers(port), timeout=10, what="httpd in the web container")
    labels = f'chaos.test: "{docker_lab.test_id}"'
    path = write_experiment(
        tmp_path / "docker-agent.yaml",
        targets=f"""\
    web: {{kind: container, selector: {{labels: {{{labels}, app: web}}}}}}
    store: {{kind: container, selector: {{labels: {{{labels}, app: store}}}}}}""",
        probes=f'      - {{name: web, http: {{url: "http://127.0.0.1:{port}/", timeout: 1s}}}}',
        method="""\
    - {fault: network-partition, target: web, params: {direction: in, action: reject}, duration: 3s}
    - {fault: disk-fill, target: store, params: {path: /data, percent: 80, allowRamBacked: true},
       duration: 3s}""",
        tolerate="web",
        extra=f"""\
  docker:
    hosts: [{{name: local, agent: "{agent.url}"}}]
""",
    )
    watcher = Watcher(docker_lab, store)
    watcher.start()
    try:
        result = chaos_run(path, tmp_path / "home", token_file)
    finally:
        watcher.stop.set()
        watcher.join()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    run = RunStore(f"sqlite:///{tmp_path / 'home' / 'runs.db'}").list_runs(limit=1)[0]
    detail = RunStore(f"sqlite:///{tmp_path / 'home' / 'runs.db'}").get_run(run.id)
    assert detail is not None
    inject = [s for s in detail.samples if s.phase == "inject" and s.probe == "web"]
    assert inject and not all(s.ok for s in inject), "the partition never cut the web container"
    assert watcher.seen_fill, output

    # nothing left: no chain in the container's namespace, no fill file, no active fault
    pid = docker_lab.inspect(web, "{{.State.Pid}}")
    rules = subprocess.run(
        ["nsenter", "-t", pid, "-n", "iptables", "-S"], capture_output=True, text=True, check=True
    )
    assert "chaos" not in rules.stdout
    assert (
        b".chaos-fill-"
        not in lab.docker("exec", store.id, "/bin/busybox", "ls", "-a", "/data").stdout
    )
    assert agent.client().faults() == []
    assert answers(port)


def test_a_pause_held_by_the_agent_is_undone_when_its_lease_is_not_renewed(
    docker_lab: lab.DockerLab, start_agent
):
    agent = start_agent()
    container = docker_lab.start("paused")
    backend = DockerBackend([DockerHost(name="local", agent=agent.url)])
    (target,) = backend.candidates(selector=Selector(names=(container.name,)), scope=Scope())
    request = FaultRequest(
        fault_id="pause-lease-t0", key="pause-lease", target=target, params=PauseParams(), ttl_s=1.0
    )
    agent.client().apply(wire.request_to_json(request, fault="container-pause"))
    assert docker_lab.status(container) == "paused"
    # no renewal, as if the controller had died: the agent unpauses at expiry
    assert docker_lab.wait_status(container, "running", timeout=5) == "running"
    assert agent.client().faults() == []


def test_a_container_gone_before_a_node_fault_is_refused_and_nothing_is_applied(
    docker_lab: lab.DockerLab, start_agent
):
    from chaos.errors import AgentError
    from chaos.faults.network_partition import Params

    agent = start_agent()
    container = docker_lab.start("gone")
    backend = DockerBackend([DockerHost(name="local", agent=agent.url)])
    (target,) = backend.candidates(selector=Selector(names=(container.name,)), scope=Scope())
    docker_lab.remove(container)
    request = FaultRequest(fault_id="gone-t0", key="gone", target=target, params=Params(), ttl_s=5)
    with pytest.raises(AgentError, match=f"container {container.name} on local.*not found"):
        agent.client().apply(wire.request_to_json(request, fault="network-partition"))
    assert agent.client().faults() == []


def test_without_an_agent_the_controller_itself_applies_a_node_fault_in_the_container(
    docker_lab: lab.DockerLab,
):
    """A Docker host with no agent: the controller (root, on that host) resolves the
    container's PID and installs the chain in its namespace itself; revert removes it."""
    from chaos.controller.executor import LocalExecutor
    from chaos.faults import CATALOG
    from chaos.faults.network_partition import Params
    from chaos.plan.planner import PlannedFault
    from chaos.spec.models import TargetKind

    container = docker_lab.start("no-agent")
    backend = DockerBackend([DockerHost(name="local")])
    (target,) = backend.candidates(selector=Selector(names=(container.name,)), scope=Scope())
    assert "agent" not in target.attributes and target.pid is None
    planned = PlannedFault(
        fault_id="local-t0",
        key="local",
        step_path="spec.method[0]",
        label="partition",
        fault=CATALOG["network-partition"],
        params=Params(),
        target_name="web",
        target=target,
        peers={},
        duration=1.0,
    )
    executor = LocalExecutor(backends={TargetKind.CONTAINER: backend})
    pid = docker_lab.inspect(container, "{{.State.Pid}}")

    def rules() -> str:
        listed = subprocess.run(
            ["nsenter", "-t", pid, "-n", "iptables", "-S"],
            capture_output=True,
            text=True,
            check=True,
        )
        return listed.stdout

    applied = executor.apply(planned, ttl_s=None)
    try:
        assert "CHAOS-" in rules()
        assert applied.undo.data["netns"] == int(pid)
    finally:
        executor.revert(applied)
    assert "CHAOS-" not in rules()
