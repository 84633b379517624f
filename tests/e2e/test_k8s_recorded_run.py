"""Whole ``chaos run``s (the real CLI, in a subprocess) against a fake Kubernetes API server.

The API answers are recordings hand-written in the exact format of the v1 API
(``tests/k8s/recordings``, validated against its OpenAPI schemas), not a live cluster:
no API server can run on the test machines. The run reaches the fake server the way
it reaches a real one, through ``$KUBECONFIG``; every request it sends is logged, so
these tests can assert what a run did to the "cluster" and what it took back.

Bad input must fail clearly: exit 4, the target named, and everything already applied
reverted (a node cordoned next to a pod delete that RBAC forbids is uncordoned).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.store.records import EventRecord, RunDetail
from chaos.store.repository import RunStore
from tests import support
from tests.k8s.apiserver import FakeApiServer
from tests.k8s.conftest import KUBE_ENV, TOKEN

pytestmark = pytest.mark.slow

X2K8P, X2K8P_UID = "web-7d4b9c6f5-x2k8p", "5f0c9a7e-2b1d-4c3e-9f8a-7b6c5d4e3f21"
GONE1 = "web-7d4b9c6f5-gone1"
PODS = "/api/v1/namespaces/shop/pods"
PROBE = "      - {name: always, command: {argv: ['true']}}"
WEB_X2K8P = f"""\
    web:
      kind: pod
      selector: {{namespace: shop, labels: {{app: web}}, names: [{X2K8P}]}}"""


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


def kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for ``server``, as the kube_env fixture of tests/k8s writes it."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "recorded", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": "recorded", "context": {"cluster": "recorded", "user": "tester"}}],
        "current-context": "recorded",
    }
    path.write_text(json.dumps(config))  # JSON is YAML: the client reads it as a kubeconfig
    return path


def database(experiment: Path) -> str:
    return f"sqlite:///{experiment.parent / 'home' / 'runs.db'}"


def chaos_run(experiment: Path, server: str) -> subprocess.CompletedProcess[str]:
    home = experiment.parent / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOS_") and k not in KUBE_ENV}
    env.update(
        KUBECONFIG=str(kubeconfig(experiment.parent / "kubeconfig", server)),
        CHAOS_K8S_TIMEOUT="2",
        CHAOS_HOME=str(home),
        CHAOS_DB=database(experiment),
        NO_COLOR="1",
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "chaos", "run", str(experiment)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_experiment(path: Path, *, targets: str, method: str) -> Path:
    return support.write_experiment(
        path,
        targets=targets,
        probes=PROBE,
        method=method,
        phases="{baseline: 1s, recovery: 2s, recoverySamples: 1}",
        interval="0.5s",
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """Everything the run printed, with the terminal's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def stored_run(experiment: Path) -> RunDetail:
    store = RunStore(database(experiment))
    try:
        (run,) = store.list_runs()
        detail = store.get_run(run.id)
    finally:
        store.close()
    assert detail is not None
    return detail


def events(detail: RunDetail, kind: str) -> list[EventRecord]:
    return [event for event in detail.events if event.kind == kind]


def changes(server: FakeApiServer) -> list[str]:
    """Every request that would change the cluster (deletes, patches, evictions), in order."""
    return [f"{r.method} {r.path}" for r in server.log if r.method != "GET"]


def test_rbac_forbidding_the_pod_delete_reverts_the_cordon_beside_it(apiserver, tmp_path):
    apiserver.load("errors", "pods", "agents", "nodes")  # errors: the delete answers 403
    path = write_experiment(
        tmp_path / "k8s-rbac-delete.yaml",
        targets=WEB_X2K8P
        + """
    workers:
      kind: node
      selector: {names: [node-c]}""",
        # one parallel step: both are applied (concurrently) before the step's error is raised
        method="""\
    - parallel:
        - {fault: node-cordon, target: workers, duration: 1s}
        - {fault: pod-kill, target: web, params: {waitReady: false}, duration: 1s}""",
    )

    result = chaos_run(path, apiserver.url)

    output = said(result)
    assert result.returncode == 4, output
    assert f'RBAC forbids delete pods in namespace shop: pods "{X2K8P}" is forbidden' in output
    assert "step=spec.method[0].parallel[1], target=web" in output
    assert "node-cordon on workers [node node-c]: reverted" in output
    (delete,) = apiserver.requests("DELETE", f"{PODS}/{X2K8P}")
    cordon, uncordon = apiserver.requests("PATCH", "/api/v1/nodes/node-c")
    assert cordon.body == {"spec": {"unschedulable": True}}
    assert uncordon.body == {"spec": {"unschedulable": False}}
    assert cordon.at < uncordon.at and delete.at < uncordon.at  # taken back after the 403
    assert len(changes(apiserver)) == 3 and apiserver.unmatched == []
    detail = stored_run(path)
    assert detail.run.exit_code == 4
    (revert,) = [e for e in events(detail, "phase.ended") if e.message == "revert"]
    assert revert.data["unreverted"] == []
    (failed,) = events(detail, "fault.apply_failed")
    assert failed.data["target"] == "web" and failed.data["fault"] == "pod-kill"


def test_a_selector_matching_nothing_is_exit_4_and_touches_nothing(apiserver, tmp_path):
    apiserver.load("pods", "agents")
    path = write_experiment(
        tmp_path / "k8s-nothing.yaml",
        targets="""\
    ghosts:
      kind: pod
      selector: {namespace: shop, labels: {app: none}}""",
        method="    - {fault: pod-kill, target: ghosts, duration: 1s}",
    )

    result = chaos_run(path, apiserver.url)

    output = said(result)
    assert result.returncode == 4, output
    assert "pod selector app=none matched nothing in namespace 'shop'" in output
    assert "target=ghosts" in output
    assert [(r.path, r.query) for r in apiserver.log] == [(PODS, {"labelSelector": "app=none"})]
    assert changes(apiserver) == []


@pytest.mark.parametrize(
    ("listens", "reason"),
    [(False, "connection refused"), (True, "no answer within 2s")],
    ids=["closed-port", "silent-server"],
)
def test_an_api_server_that_does_not_answer_is_exit_4_naming_the_target(tmp_path, listens, reason):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        if listens:
            listening.listen(8)  # connections complete (the backlog), nothing answers
        server = f"http://127.0.0.1:{listening.getsockname()[1]}"  # closed unless listening
        path = write_experiment(
            tmp_path / "k8s-no-api.yaml",
            targets=WEB_X2K8P,
            method="    - {fault: pod-kill, target: web, duration: 1s}",
        )
        started = time.monotonic()
        result = chaos_run(path, server)
        elapsed = time.monotonic() - started

    output = said(result)
    assert result.returncode == 4, output
    assert f"the Kubernetes API server at {server} does not answer ({reason})" in output
    assert "target=web" in output
    assert elapsed < 30, output


def test_a_protected_namespace_is_refused_before_any_request(apiserver, tmp_path):
    apiserver.load("pods", "agents")
    path = write_experiment(
        tmp_path / "k8s-protected.yaml",
        targets="""\
    dns:
      kind: pod
      selector: {namespace: kube-system, labels: {k8s-app: kube-dns}}""",
        method="    - {fault: pod-kill, target: dns, duration: 1s}",
    )

    result = chaos_run(path, apiserver.url)

    output = said(result)
    assert result.returncode == 4, output
    assert "namespace 'kube-system' is protected" in output and "target=dns" in output
    assert apiserver.log == []


def test_a_pod_that_vanished_before_injection_is_exit_4_and_not_deleted(apiserver, tmp_path):
    apiserver.load("run-vanished", "agents")  # listed Running, then 404 when read by name
    path = write_experiment(
        tmp_path / "k8s-vanished.yaml",
        targets="""\
    web:
      kind: pod
      selector: {namespace: shop, labels: {app: web}, node: node-c}""",
        method="    - {fault: pod-kill, target: web, duration: 1s}",
    )

    result = chaos_run(path, apiserver.url)

    output = said(result)
    assert result.returncode == 4, output
    assert f"pod-kill: target pod shop/{GONE1} vanished before injection" in output
    assert "step=spec.method[0], target=web" in output
    assert apiserver.requests("GET", f"{PODS}/{GONE1}")  # looked again just before the delete
    assert changes(apiserver) == []


def test_a_pod_kill_whose_replacement_becomes_ready_passes(apiserver, tmp_path):
    apiserver.load("pod-kill", "pods", "agents")  # pod-kill's namespace listings come first
    path = write_experiment(
        tmp_path / "k8s-pod-kill.yaml",
        targets=WEB_X2K8P,
        method="""\
    - fault: pod-kill
      target: web
      params: {gracePeriod: 0s, waitReady: true, readyTimeout: 10s}
      duration: 1s""",
    )

    result = chaos_run(path, apiserver.url)

    output = said(result)
    assert result.returncode == 0, output
    assert f"deleted pod shop/{X2K8P} (grace period 0s); replacement Ready after" in output
    (delete,) = apiserver.requests("DELETE")
    assert delete.path == f"{PODS}/{X2K8P}"
    assert delete.body == {"gracePeriodSeconds": 0, "preconditions": {"uid": X2K8P_UID}}
    assert changes(apiserver) == [f"DELETE {PODS}/{X2K8P}"] and apiserver.unmatched == []
    assert {r.authorization for r in apiserver.log} == {f"Bearer {TOKEN}"}  # from $KUBECONFIG
    (applied,) = events(stored_run(path), "fault.applied")
    assert "replacement Ready after" in applied.data["detail"]
