"""Node selection, and node-cordon through the API: the exact patch bodies, and a node
someone else had cordoned left cordoned.

The API answers are recordings hand-written in the exact format of the v1 API for these
tests (tests/k8s/recordings), not captured from a live cluster here: no API server can
run on the test machines.
"""

from __future__ import annotations

import pytest

from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext, Undo
from chaos.spec.models import Selector, TargetKind
from chaos.targets.base import Scope, Target
from chaos.targets.kubernetes import KubernetesNodes
from tests.k8s.conftest import TOKEN
from tests.k8s.targets import node_target

HOST = HostContext(node="controller")
NODE_UIDS = {
    "node-a": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
    "node-b": "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "node-c": "8b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
}


@pytest.fixture
def recorded(apiserver):
    return apiserver.load("nodes")


def select(cluster, **selector):
    return KubernetesNodes(cluster).candidates(selector=Selector(**selector), scope=Scope())


def node(name: str) -> Target:
    return node_target(name, NODE_UIDS.get(name, "0000"))


def test_nodes_by_labels_fields_and_names(recorded, cluster):
    zone = select(cluster, labels={"topology.kubernetes.io/zone": "zone-1"})
    assert [t.node for t in zone] == ["node-a", "node-b"]
    schedulable = select(cluster, fields={"spec.unschedulable": "false"})
    assert [t.node for t in schedulable] == ["node-a", "node-c"]
    named = select(cluster, names=("node-c", "node-x"))
    assert [t.node for t in named] == ["node-c"]
    assert [r.query for r in recorded.requests("GET", "/api/v1/nodes")] == [
        {"labelSelector": "topology.kubernetes.io/zone=zone-1"},
        {"fieldSelector": "spec.unschedulable=false"},
        {},
    ]


def test_a_node_target(recorded, cluster):
    a, b = select(cluster, labels={"topology.kubernetes.io/zone": "zone-1"})
    assert a.kind is TargetKind.NODE and a.uid == f"node/node-a/{NODE_UIDS['node-a']}"
    assert a.display == "node node-a" and a.labels["kubernetes.io/hostname"] == "node-a"
    assert a.attributes["unschedulable"] == "false" and b.attributes["unschedulable"] == "true"


def test_exists_means_the_same_node(recorded, cluster):
    backend = KubernetesNodes(cluster)
    assert backend.exists(node("node-a"))
    recreated = Target(kind=TargetKind.NODE, uid="node/node-a/old-uid", display="", node="node-a")
    assert not backend.exists(recreated)
    assert not backend.exists(node("node-gone"))


def cordon(target: Target):
    fault = CATALOG["node-cordon"]
    request = FaultRequest(fault_id="c-t0", key="c", target=target, params=fault.params())
    return fault, fault.apply(request, fault.prepare(request, HOST), HOST)


def test_cordon_patches_unschedulable_and_revert_clears_it(recorded, kube_env):
    fault, undo = cordon(node("node-c"))
    assert undo.detail == "cordoned node node-c"
    assert undo.data == {"node": "node-c", "was_unschedulable": False}
    fault.revert(undo, HOST)
    fault.revert(undo, HOST)  # idempotent: the second uncordon changes nothing
    patches = recorded.requests("PATCH", "/api/v1/nodes/node-c")
    assert [p.body for p in patches] == [
        {"spec": {"unschedulable": True}},
        {"spec": {"unschedulable": False}},
        {"spec": {"unschedulable": False}},
    ]
    assert {p.content_type for p in patches} == {"application/strategic-merge-patch+json"}
    assert {r.authorization for r in recorded.log} == {f"Bearer {TOKEN}"}  # from $KUBECONFIG


def test_a_node_already_cordoned_stays_cordoned(recorded, kube_env):
    fault, undo = cordon(node("node-b"))
    assert "already cordoned" in undo.detail and undo.data["was_unschedulable"] is True
    fault.revert(undo, HOST)
    assert recorded.requests("PATCH") == []


def test_uncordoning_a_node_that_is_gone_is_done(recorded, kube_env):
    undo = Undo(fault="node-cordon", data={"node": "node-gone", "was_unschedulable": False})
    CATALOG["node-cordon"].revert(undo, HOST)
    assert len(recorded.requests("PATCH", "/api/v1/nodes/node-gone")) == 1


def test_node_faults_act_from_the_controller_on_nodes_only():
    for name in ("node-cordon", "node-drain"):
        fault = CATALOG[name]
        assert fault.where == "controller" and fault.target_kinds == {TargetKind.NODE}
        assert fault.reversible
