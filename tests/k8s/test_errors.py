"""Every API failure reaches the user as a TargetError saying what to fix: the RBAC rule,
the credentials, the object that is gone, the API server that does not answer. No
ApiException or urllib3 error escapes.

The API answers are recordings hand-written in the exact format of the v1 API for these
tests (tests/k8s/recordings), not captured from a live cluster here: no API server can
run on the test machines. The hung server is a recording answered after 5 s; the
unreachable one is a loopback port nobody listens on.
"""

from __future__ import annotations

import random
import socket
import time

import pytest

from chaos.errors import ExitCode, TargetError
from chaos.faults import CATALOG
from chaos.plan.planner import make_plan
from chaos.spec.loader import load_text
from chaos.spec.models import Selector, TargetKind
from chaos.targets.base import Scope, Target
from chaos.targets.kube_errors import KubeApiError
from chaos.targets.kubernetes import KubernetesNodes, KubernetesPods

SA = 'User "system:serviceaccount:chaos:chaos-controller"'


@pytest.fixture
def recorded(apiserver):
    return apiserver.load("errors")


def pods(cluster, namespace: str, **labels: str):
    selector = Selector(namespace=namespace, labels=labels)
    return KubernetesPods(cluster).candidates(selector=selector, scope=Scope())


def test_rbac_forbidding_a_list_names_verb_resource_and_namespace(recorded, cluster):
    with pytest.raises(TargetError) as caught:
        pods(cluster, "payments", app="billing")
    assert caught.value.message == (
        f"RBAC forbids list pods in namespace payments: pods is forbidden: {SA} cannot list "
        'resource "pods" in API group "" in the namespace "payments"'
    )
    assert caught.value.exit_code is ExitCode.ERROR


def test_the_planner_names_the_target_whose_listing_failed(recorded, cluster):
    text = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {name: billing}
spec:
  targets:
    billing: {kind: pod, selector: {namespace: payments, labels: {app: billing}}}
  steadyState:
    probes: [{name: up, http: {url: "http://127.0.0.1:1/"}}]
  method:
    - {fault: pod-kill, target: billing}
"""
    experiment = load_text(text, file="billing.yaml", catalog=CATALOG)
    with pytest.raises(TargetError, match="RBAC forbids list pods") as caught:
        make_plan(
            experiment,
            catalog=CATALOG,
            backends={TargetKind.POD: KubernetesPods(cluster)},
            scope=Scope(),
            run_key="k",
            rng=random.Random(1),
        )
    assert (caught.value.experiment, caught.value.target) == ("billing", "billing")


def test_rejected_credentials_name_the_api_server(recorded, cluster):
    selector = Selector(labels={"kubernetes.io/os": "linux"})
    with pytest.raises(TargetError) as caught:
        KubernetesNodes(cluster).candidates(selector=selector, scope=Scope())
    assert caught.value.message == (
        f"the Kubernetes API server at {recorded.url} rejected our credentials "
        "(401 Unauthorized): Unauthorized"
    )


def test_a_missing_object_is_a_404_with_the_apis_words(apiserver, cluster):
    apiserver.load("pod-kill")
    with pytest.raises(KubeApiError) as caught:
        cluster.read_pod("shop", "web-7d4b9c6f5-gone1")
    assert caught.value.status == 404
    assert caught.value.message == (
        'pods shop/web-7d4b9c6f5-gone1 not found (404): pods "web-7d4b9c6f5-gone1" not found'
    )
    assert caught.value.target == "pod shop/web-7d4b9c6f5-gone1"


def test_a_conflict_is_a_409_with_the_apis_words(apiserver, cluster):
    apiserver.load("pod-kill")
    with pytest.raises(KubeApiError) as caught:
        cluster.delete_pod("shop", "web-7d4b9c6f5-r4c3d", uid="x", grace_period_seconds=None)
    assert caught.value.status == 409
    assert caught.value.message.startswith(
        "delete pods shop/web-7d4b9c6f5-r4c3d conflicts with its current state (409): "
        'Operation cannot be fulfilled on pods "web-7d4b9c6f5-r4c3d": Precondition failed'
    )


def test_a_hung_api_server_times_out_within_the_budget(recorded, make_cluster):
    cluster = make_cluster(recorded.url, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(TargetError) as caught:
        pods(cluster, "slow", app="web")
    assert time.monotonic() - started < 2  # one attempt: a read timeout is not retried
    assert caught.value.message == (
        f"the Kubernetes API server at {recorded.url} does not answer (no answer within 0.5s)"
    )
    assert caught.value.__cause__ is not None  # the urllib3 error, kept for debugging
    assert len(recorded.requests("GET", "/api/v1/namespaces/slow/pods")) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_closed_port_is_an_api_server_that_does_not_answer(make_cluster):
    url = f"http://127.0.0.1:{closed_port()}"
    cluster = make_cluster(url)
    with pytest.raises(TargetError) as caught:
        pods(cluster, "shop", app="web")
    assert caught.value.message == (
        f"the Kubernetes API server at {url} does not answer (connection refused)"
    )
    node = Target(kind=TargetKind.NODE, uid="node/n/u", display="node n", node="n")
    with pytest.raises(TargetError, match="does not answer"):  # not "gone": unknown
        KubernetesNodes(cluster).exists(node)
