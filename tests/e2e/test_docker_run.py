"""Whole ``chaos run``s against real Docker containers: a pause then a stop on two busybox
httpd containers probed over loopback; a selector that matches nothing; a Docker host that
does not answer."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests import docker_lab as lab
from tests import support
from tests.support import chaos_env, free_base_port, run_chaos, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]

docker_image = lab.docker_image
docker_lab = lab.docker_lab


def chaos_run(experiment: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = chaos_env(home=home, db=f"sqlite:///{home / 'runs.db'}")
    return run_chaos("run", str(experiment), env=env, timeout=180)


def write_experiment(
    path: Path, *, targets: str, probes: str, method: str, tolerate: str = "", extra: str = ""
) -> Path:
    phases = (
        f"{{baseline: 2s, recovery: 20s, recoverySamples: 2, tolerateDuringFault: [{tolerate}]}}"
    )
    return support.write_experiment(
        path, targets=targets, probes=probes, method=method, phases=phases, extra=extra
    )


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_pause_then_stop_of_containers_reverts_both(docker_lab: lab.DockerLab, tmp_path):
    base = free_base_port(2)
    webs = [docker_lab.start(f"web-{n}", labels={"app": "web"}, port=base + n) for n in range(2)]
    for web in webs:
        assert web.port is not None
        wait_for(lambda port=web.port: answers(port), timeout=10, what=f"httpd on {web.port}")
    probes = "\n".join(
        f'      - {{name: web-{n}, http: {{url: "http://127.0.0.1:{web.port}/", timeout: 1s}}}}'
        for n, web in enumerate(webs)
    )
    path = write_experiment(
        tmp_path / "docker-pause-stop.yaml",
        targets=f"""\
    web:
      kind: container
      selector: {{labels: {{chaos.test: "{docker_lab.test_id}", app: web}}}}""",
        probes=probes,
        method="""\
    - {fault: container-pause, target: web, duration: 2s}
    - {fault: container-stop, target: web, params: {timeout: 1s}, duration: 2s}""",
        tolerate="web-0, web-1",  # both are down while paused or stopped: judged in recovery
    )

    result = chaos_run(path, tmp_path / "home")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for web in webs:
        assert f"container {web.name} on local" in output
        assert docker_lab.status(web) == "running", output
        assert docker_lab.inspect(web, "{{.State.Paused}}") == "false"
        assert answers(web.port or 0)
    assert "paused container" in output and "stopped container" in output


def test_a_container_selector_matching_nothing_is_exit_4_naming_the_target(
    docker_lab: lab.DockerLab, tmp_path
):
    path = write_experiment(
        tmp_path / "docker-nothing.yaml",
        targets=f"""\
    ghosts:
      kind: container
      selector: {{labels: {{chaos.test: "{docker_lab.test_id}", app: nothing}}}}""",
        probes="      - {name: web-0, command: {argv: ['true']}}",
        method="    - {fault: container-kill, target: ghosts}",
    )
    result = chaos_run(path, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "matched nothing" in output and "ghosts" in output


def test_a_docker_host_that_does_not_answer_is_exit_4_naming_it(tmp_path):
    path = write_experiment(
        tmp_path / "docker-ghost-host.yaml",
        targets="""\
    web:
      kind: container
      selector: {labels: {app: web}}""",
        probes="      - {name: web-0, command: {argv: ['true']}}",
        method="    - {fault: container-pause, target: web, duration: 1s}",
        extra="""\
  docker:
    hosts: [{name: ghost, url: "unix:///nonexistent.sock"}]
""",
    )
    result = chaos_run(path, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "docker host ghost (unix:///nonexistent.sock) does not answer" in output
