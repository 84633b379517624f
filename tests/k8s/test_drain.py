"""node-drain through the official client: cordon first, policy/v1 evictions with the grace
period, DaemonSet and mirror pods left alone, a PodDisruptionBudget's 429 retried until the
timeout and then reported.

The API answers are recordings hand-written in the exact format of the v1 API for these
tests (tests/k8s/recordings), not captured from a live cluster here: no API server can
run on the test machines.
"""

from __future__ import annotations

import json

import pytest

from chaos.errors import TargetError
from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext, Undo
from chaos.faults.node import DrainParams
from chaos.targets import kube_actions
from tests.k8s.targets import node_target

HOST = HostContext(node="controller")
EVICTION = "/api/v1/namespaces/shop/pods/{}/eviction"


@pytest.fixture
def recorded(apiserver):
    return apiserver.load("drain")


def test_drain_cordons_then_evicts_all_but_daemonset_and_mirror_pods(recorded, cluster):
    result = kube_actions.drain(
        cluster, "node-a", grace_period_seconds=10, timeout_s=5, poll_s=0.05
    )
    assert result.evicted == ["shop/web-7d4b9c6f5-x2k8p", "shop/db-0"]
    assert result.skipped == {
        "kube-system/fluentd-8x2jq": "DaemonSet pod",
        "kube-system/etcd-node-a": "mirror pod",
    }
    assert result.blocked == {}
    methods = [(r.method, r.path) for r in recorded.log]
    assert methods[0] == ("PATCH", "/api/v1/nodes/node-a")  # cordoned before any eviction
    assert recorded.log[0].body == {"spec": {"unschedulable": True}}
    assert recorded.log[1].query == {"fieldSelector": "spec.nodeName=node-a"}
    evictions = recorded.requests("POST")
    assert {r.path for r in evictions} == {
        EVICTION.format("web-7d4b9c6f5-x2k8p"),
        EVICTION.format("db-0"),
    }
    assert len(recorded.requests("POST", EVICTION.format("db-0"))) == 3  # 429, 429, 201
    assert evictions[0].body == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-7d4b9c6f5-x2k8p", "namespace": "shop"},
        "deleteOptions": {"gracePeriodSeconds": 10},
    }
    assert "fluentd" not in str(methods) and "etcd" not in str(methods)


def test_a_budget_refusing_until_the_timeout_is_reported(recorded, cluster):
    result = kube_actions.drain(
        cluster, "node-d", grace_period_seconds=None, timeout_s=0.3, poll_s=0.05
    )
    assert result.evicted == []
    assert result.blocked == {
        "shop/db-1": "Cannot evict pod as it would violate the pod's disruption budget."
    }
    assert len(recorded.requests("POST", EVICTION.format("db-1"))) >= 3
    assert "1 not evicted, refused until the timeout" in result.summary()


node = node_target


def test_the_drain_fault_records_blocked_pods_and_its_revert_uncordons(recorded, kube_env):
    fault = CATALOG["node-drain"]
    target = node("node-d", "9c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f")
    params = DrainParams(timeout="1s", grace_period="20s")
    request = FaultRequest(fault_id="d-t0", key="d", target=target, params=params)
    undo = fault.apply(request, fault.prepare(request, HOST), HOST)
    assert undo.data["blocked"] == {
        "shop/db-1": "Cannot evict pod as it would violate the pod's disruption budget."
    }
    assert undo.data["was_unschedulable"] is False and undo.data["evicted"] == []
    assert undo.detail.startswith("drained node node-d: evicted 0 pod(s); 1 not evicted")
    assert "not restored by the revert" in undo.detail
    first, *_, last = recorded.requests("POST")
    assert first.body["deleteOptions"] == {"gracePeriodSeconds": 20}
    assert 0.95 < last.at - first.at < 1.5  # retried until the timeout, not beyond
    fault.revert(Undo.from_json(json.loads(json.dumps(undo.to_json()))), HOST)  # as journaled
    patches = [r.body for r in recorded.requests("PATCH", "/api/v1/nodes/node-d")]
    assert patches == [{"spec": {"unschedulable": True}}, {"spec": {"unschedulable": False}}]


def test_an_eviction_failing_otherwise_stops_the_drain(recorded, cluster):
    recorded.add(
        method="POST",
        path=EVICTION.format("web-7d4b9c6f5-x2k8p"),
        status=500,
        body={
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "etcdserver: request timed out",
            "code": 500,
        },
    )
    recorded.responses.insert(0, recorded.responses.pop())  # before the recorded 201
    with pytest.raises(
        TargetError,
        match=r"create pods/eviction shop/web-7d4b9c6f5-x2k8p failed "
        r"\(500 Internal Server Error\): etcdserver: request timed out",
    ):
        kube_actions.drain(cluster, "node-a", grace_period_seconds=None, timeout_s=1, poll_s=0.05)
