"""Opt-in: the Kubernetes backends and faults against the real cluster in $KUBECONFIG.

Run with ``pytest -m k8s tests/e2e/test_k8s_cluster.py`` after, for example,
``kind create cluster --name chaos`` (kind writes ~/.kube/config; export KUBECONFIG
to point at it). Skipped, with the reason, unless asked for by ``-m k8s`` (or
``CHAOS_E2E_K8S=1``: a KUBECONFIG in the environment is not consent to cordon one of
its nodes), and when KUBECONFIG is unset or its cluster does not answer. Each run
makes a throwaway namespace with a 2-replica Deployment (image
``$CHAOS_E2E_K8S_IMAGE``, default ``registry.k8s.io/pause:3.9``) and always deletes
it; a node it cordons is always uncordoned.

Everything else in tests/k8s runs against answers hand-written in the API's format.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chaos.controller.executor import LocalExecutor
from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext
from chaos.faults.pod import Params
from chaos.plan.planner import PlannedFault
from chaos.spec.models import Selector, TargetKind
from chaos.targets.base import Scope
from chaos.targets.kubernetes import KubeCluster, KubernetesNodes, KubernetesPods, connect

pytestmark = pytest.mark.k8s

IMAGE = os.environ.get("CHAOS_E2E_K8S_IMAGE", "registry.k8s.io/pause:3.9")
READY_TIMEOUT_S = 180.0
HOST = HostContext(node="controller")


def _reachable_cluster() -> str | None:
    """None if a cluster answers, else why the tests are skipped."""
    if not os.environ.get("KUBECONFIG"):
        return "KUBECONFIG is not set (these tests need a real cluster, e.g. kind)"
    try:
        from kubernetes import client, config

        api_client = config.new_client_from_config(
            config_file=os.environ["KUBECONFIG"],
            context=os.environ.get("CHAOS_K8S_CONTEXT"),
            persist_config=False,
        )
        with api_client:
            version = client.VersionApi(api_client).get_code(_request_timeout=5)
    except Exception as exc:  # any failure means: no usable cluster here
        return f"the cluster in KUBECONFIG does not answer: {type(exc).__name__}: {exc}"
    return None if version.git_version else "the cluster in KUBECONFIG gave no version"


def _opted_in(config: pytest.Config) -> bool:
    """A KUBECONFIG alone is not consent (it may name a production cluster): the run must
    ask for these tests by marker, or by CHAOS_E2E_K8S=1."""
    markexpr = str(config.getoption("markexpr") or "")
    return os.environ.get("CHAOS_E2E_K8S") == "1" or (
        "k8s" in markexpr and "not k8s" not in markexpr
    )


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[KubeCluster]:
    if not _opted_in(request.config):
        pytest.skip("opt-in: run `pytest -m k8s` (or set CHAOS_E2E_K8S=1) to use KUBECONFIG")
    reason = _reachable_cluster()
    if reason:
        pytest.skip(reason)
    with connect() as connected:
        yield connected


@pytest.fixture
def namespace(cluster: KubeCluster) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client)
    name = f"chaos-e2e-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Foreground")


def _deployment(namespace: str) -> Any:
    from kubernetes import client

    labels = {"app": "victim"}
    container = client.V1Container(name="victim", image=IMAGE)
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(containers=[container], termination_grace_period_seconds=5),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="victim", namespace=namespace),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels=labels), template=template
        ),
    )


def _ready_pods(cluster: KubeCluster, namespace: str) -> list[Any]:
    from chaos.targets.kube_objects import is_ready

    return [pod for pod in cluster.list_pods(namespace, labels="app=victim") if is_ready(pod)]


def _wait_ready(cluster: KubeCluster, namespace: str, count: int) -> list[Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        ready = _ready_pods(cluster, namespace)
        if len(ready) >= count:
            return ready
        time.sleep(1)
    pytest.fail(f"{count} pods of {IMAGE} not Ready within {READY_TIMEOUT_S:g}s in {namespace}")


def test_pod_kill_deletes_one_pod_and_a_replacement_becomes_ready(cluster, namespace):
    from kubernetes import client

    client.AppsV1Api(cluster.api_client).create_namespaced_deployment(
        namespace, _deployment(namespace)
    )
    before = {pod.metadata.uid for pod in _wait_ready(cluster, namespace, 2)}
    backend = KubernetesPods(cluster)
    targets = backend.candidates(
        selector=Selector(namespace=namespace, labels={"app": "victim"}), scope=Scope()
    )
    assert len(targets) == 2 and {t.attributes["pod_uid"] for t in targets} == before
    victim = targets[0]
    planned = PlannedFault(
        fault_id="e2e-t0",
        key="e2e",
        step_path="spec.method[0]",
        label="pod-kill on victim",
        fault=CATALOG["pod-kill"],
        params=Params(grace_period=0.0, ready_timeout=READY_TIMEOUT_S),
        target_name="victim",
        target=victim,
        peers={},
        duration=0.0,
    )
    applied = LocalExecutor(backends={TargetKind.POD: backend}).apply(planned, ttl_s=None)
    assert "replacement Ready after" in applied.undo.detail, applied.undo.detail
    assert not backend.exists(victim)
    after = {pod.metadata.uid for pod in _ready_pods(cluster, namespace)}
    assert victim.attributes["pod_uid"] not in after and after - before


def test_node_cordon_and_revert(cluster):
    nodes = KubernetesNodes(cluster).candidates(
        selector=Selector(fields={"spec.unschedulable": "false"}), scope=Scope()
    )
    if not nodes:
        pytest.skip("every node is already unschedulable")
    target = nodes[0]
    fault = CATALOG["node-cordon"]
    request = FaultRequest(fault_id="e2e-c0", key="e2e", target=target, params=fault.params())
    undo = fault.prepare(request, HOST)
    try:
        undo = fault.apply(request, undo, HOST)
        assert cluster.read_node(target.node).spec.unschedulable is True
    finally:
        fault.revert(undo, HOST)  # always: never leave a node of a real cluster cordoned
    assert not cluster.read_node(target.node).spec.unschedulable
