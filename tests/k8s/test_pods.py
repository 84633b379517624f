"""Pod selection through the official client: selectors sent, running pods kept, containers
and agents attached, modes applied by the planner.

The API answers are recordings hand-written in the exact format of the v1 API for these
tests (tests/k8s/recordings), not captured from a live cluster here: no API server can
run on the test machines. The opt-in suite tests/e2e/test_k8s_cluster.py runs against a
real one.
"""

from __future__ import annotations

import random

import pytest

from chaos.errors import TargetError
from chaos.faults import CATALOG
from chaos.plan.planner import make_plan
from chaos.spec.loader import load_text
from chaos.spec.models import Selector, TargetKind
from chaos.targets.base import Scope
from chaos.targets.kubernetes import KubernetesPods

X2K8P = "web-7d4b9c6f5-x2k8p"  # node-a, Ready, app + sidecar running
M9QZT = "web-7d4b9c6f5-m9qzt"  # node-b, Running, its sidecar still being created
PODS = "/api/v1/namespaces/shop/pods"
AGENTS = "/api/v1/namespaces/chaos/pods"


def select(cluster, **selector):
    return KubernetesPods(cluster).candidates(selector=Selector(**selector), scope=Scope())


@pytest.fixture
def recorded(apiserver):
    return apiserver.load("pods", "agents")


def test_labels_select_running_pods_only(recorded, cluster):
    found = select(cluster, namespace="shop", labels={"app": "web"})
    # the Pending pod and the terminating one are not candidates
    assert [t.attributes["pod"] for t in found] == [X2K8P, M9QZT]
    assert recorded.requests("GET", PODS)[0].query == {"labelSelector": "app=web"}
    first = found[0]
    assert first.kind is TargetKind.POD
    assert first.uid == f"shop/{X2K8P}/5f0c9a7e-2b1d-4c3e-9f8a-7b6c5d4e3f21"
    assert first.display == f"pod shop/{X2K8P}" and first.node == "node-a"
    assert first.labels == {"app": "web", "pod-template-hash": "7d4b9c6f5"}
    assert dict(first.attributes) == {
        "namespace": "shop",
        "pod": X2K8P,
        "pod_uid": "5f0c9a7e-2b1d-4c3e-9f8a-7b6c5d4e3f21",
        "ip": "10.244.1.17",
        "container": "app",
        "container_id": "containerd://" + ("5f0c9a7e" * 8),
        "host_network": "false",
        "agent": "https://172.18.0.2:7070",
    }
    assert recorded.unmatched == []


def test_the_node_and_fields_become_one_field_selector(recorded, cluster):
    found = select(
        cluster,
        namespace="shop",
        labels={"app": "web"},
        fields={"status.phase": "Running"},
        node="node-b",
    )
    assert [t.attributes["pod"] for t in found] == [M9QZT]
    assert recorded.requests("GET", PODS)[0].query == {
        "labelSelector": "app=web",
        "fieldSelector": "status.phase=Running,spec.nodeName=node-b",
    }


def test_a_node_alone_keeps_only_its_running_pods(recorded, cluster):
    found = select(cluster, namespace="shop", labels={"app": "web"}, node="node-a")
    assert [t.attributes["pod"] for t in found] == [X2K8P]  # not the terminating old01


def test_names_filter_what_the_namespace_lists(recorded, cluster):
    found = select(cluster, namespace="shop", names=(M9QZT, "web-7d4b9c6f5-7hq2c"))
    assert [t.attributes["pod"] for t in found] == [M9QZT]  # 7hq2c is Pending
    assert recorded.requests("GET", PODS)[0].query == {}


def test_the_chosen_container_gives_its_runtime_id_once_started(recorded, cluster):
    found = select(cluster, namespace="shop", labels={"app": "web"}, container="sidecar")
    by_pod = {t.attributes["pod"]: t.attributes for t in found}
    assert by_pod[X2K8P]["container"] == "sidecar"
    assert by_pod[X2K8P]["container_id"] == "containerd://" + ("2b1d4c3e" * 8)
    assert by_pod[M9QZT]["container"] == "sidecar"
    assert "container_id" not in by_pod[M9QZT]  # ContainerCreating: no container yet


def test_a_container_the_pod_lacks_is_an_error_naming_both(recorded, cluster):
    with pytest.raises(TargetError, match=f"pod shop/{X2K8P} has no container 'db'") as caught:
        select(cluster, namespace="shop", labels={"app": "web"}, container="db")
    assert "it has: app, sidecar" in caught.value.message


def test_agents_are_found_once_per_listing_and_only_when_ready(recorded, make_cluster):
    cluster = make_cluster(recorded.url, agent_port=9443, agent_scheme="http")
    found = select(cluster, namespace="shop", labels={"app": "web"})
    agents = {t.attributes["pod"]: t.attributes.get("agent") for t in found}
    # node-b's agent pod is not Ready: node faults on m9qzt have nowhere to go
    assert agents == {X2K8P: "http://172.18.0.2:9443", M9QZT: None}
    assert len(recorded.requests("GET", AGENTS)) == 1
    assert recorded.requests("GET", AGENTS)[0].query == {
        "labelSelector": "app.kubernetes.io/name=chaos-agent"
    }


def test_nothing_running_lists_no_agents(recorded, cluster):
    assert select(cluster, namespace="shop", labels={"app": "none"}) == []
    assert recorded.requests("GET", AGENTS) == []


def test_a_host_network_pod_says_so(recorded, cluster):
    (edge,) = select(cluster, namespace="shop", labels={"app": "edge"})
    assert edge.attributes["host_network"] == "true"
    assert edge.attributes["ip"] == "172.18.0.3"  # the node's address


@pytest.mark.parametrize(
    ("scope", "settings"),
    [
        (Scope(allowed_namespaces=frozenset({"dev", "qa"})), {}),
        (Scope(), {"allowed_namespaces": ("qa",)}),
    ],
)
def test_a_namespace_outside_the_allowlist_is_never_listed(recorded, make_cluster, scope, settings):
    backend = KubernetesPods(make_cluster(recorded.url, **settings))
    with pytest.raises(TargetError, match="namespace 'shop' is not in the controller's allowed"):
        backend.candidates(selector=Selector(namespace="shop", labels={"app": "web"}), scope=scope)
    assert recorded.log == []


def test_exists_means_the_same_pod_and_not_terminating(recorded, cluster):
    backend = KubernetesPods(cluster)
    live, _ = select(cluster, namespace="shop", labels={"app": "web"})
    assert backend.exists(live)
    successor = {**live.attributes, "pod_uid": "another-uid"}
    assert not backend.exists(type(live)(**{**live.__dict__, "attributes": successor}))
    old = {
        **live.attributes,
        "pod": "web-7d4b9c6f5-old01",
        "pod_uid": "d0e1f2a3-b4c5-4d6e-9f7a-8b9c0d1e2f3a",
    }
    assert not backend.exists(type(live)(**{**live.__dict__, "attributes": old}))  # terminating
    gone = {**live.attributes, "pod": "web-7d4b9c6f5-gone1"}
    assert not backend.exists(type(live)(**{**live.__dict__, "attributes": gone}))  # 404


EXPERIMENT = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: kill-web}}
spec:
  targets:
    web: {{kind: pod, selector: {{namespace: shop, labels: {{app: web}}}}, mode: "{mode}"}}
  steadyState:
    probes: [{{name: up, http: {{url: "http://127.0.0.1:1/"}}}}]
  method:
    - {{fault: pod-kill, target: web, params: {{gracePeriod: 0s}}}}
"""


@pytest.mark.parametrize(
    ("mode", "picked"),
    [("one", 1), ("all", 2), ("count:1", 1), ("count:5", 2), ("percent:50", 1), ("percent:51", 2)],
)
def test_modes_pick_among_the_running_pods(recorded, cluster, mode, picked):
    experiment = load_text(EXPERIMENT.format(mode=mode), file="kill-web.yaml", catalog=CATALOG)
    plan = make_plan(
        experiment,
        catalog=CATALOG,
        backends={TargetKind.POD: KubernetesPods(cluster)},
        scope=Scope(),
        run_key="chaos-k8s",
        rng=random.Random(7),
    )
    chosen = plan.selected["web"]
    assert plan.candidates["web"] == 2 and len(chosen) == picked
    assert {t.attributes["pod"] for t in chosen} <= {X2K8P, M9QZT}
    (step,) = plan.steps
    assert [f.target for f in step.faults] == list(chosen)
    assert step.faults[0].fault.name == "pod-kill"
