"""pod-kill through the official client: the grace period and uid precondition actually
sent, the replacement's readiness timed, and a pod that vanished refused (exit 4).

The API answers are recordings hand-written in the exact format of the v1 API for these
tests (tests/k8s/recordings), not captured from a live cluster here: no API server can
run on the test machines. Faults connect through $KUBECONFIG (the kube_env fixture).
"""

from __future__ import annotations

import json

import pytest

from chaos.controller.executor import LocalExecutor
from chaos.errors import ExitCode, FaultError
from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext, Undo
from chaos.faults.pod import Params
from chaos.plan.planner import PlannedFault
from chaos.spec.models import TargetKind
from chaos.targets.base import Target
from chaos.targets.kubernetes import KubernetesPods

HOST = HostContext(node="controller")
PODS = "/api/v1/namespaces/shop/pods"
X2K8P, X2K8P_UID = "web-7d4b9c6f5-x2k8p", "5f0c9a7e-2b1d-4c3e-9f8a-7b6c5d4e3f21"


def pod(name: str, uid: str) -> Target:
    return Target(
        kind=TargetKind.POD,
        uid=f"shop/{name}/{uid}",
        display=f"pod shop/{name}",
        node="node-a",
        attributes={"namespace": "shop", "pod": name, "pod_uid": uid, "container": "app"},
    )


def kill(target: Target, **params):
    fault = CATALOG["pod-kill"]
    request = FaultRequest(fault_id="k-t0", key="k", target=target, params=Params(**params))
    return fault.apply(request, fault.prepare(request, HOST), HOST)


def test_the_grace_period_and_uid_precondition_are_sent_and_the_replacement_timed(
    apiserver, kube_env
):
    apiserver.load("pod-kill")
    undo = kill(pod(X2K8P, X2K8P_UID), grace_period="5s")
    (delete,) = apiserver.requests("DELETE")
    assert delete.path == f"{PODS}/{X2K8P}"
    assert delete.body == {"gracePeriodSeconds": 5, "preconditions": {"uid": X2K8P_UID}}
    # the replacement q4w7r is Pending, then Running, then Ready: three polls after the delete
    # (m9qzt, Ready all along, is a sibling, not a replacement)
    assert 0.4 < undo.data["ready_after_s"] < 3
    assert f"replacement Ready after {undo.data['ready_after_s']:.1f}s" in undo.detail
    assert undo.detail.startswith(f"deleted pod shop/{X2K8P} (grace period 5s)")
    assert undo.data["grace_period_seconds"] == 5
    assert Undo.from_json(json.loads(json.dumps(undo.to_json()))) == undo  # journal-safe
    assert not CATALOG["pod-kill"].reversible
    CATALOG["pod-kill"].revert(undo, HOST)  # nothing to take back, and no API call
    assert apiserver.requests("DELETE") == [delete] and apiserver.unmatched == []


def test_without_a_grace_period_the_pods_own_applies(apiserver, kube_env):
    apiserver.load("pod-kill")
    undo = kill(pod(X2K8P, X2K8P_UID), wait_ready=False)
    (delete,) = apiserver.requests("DELETE")
    assert delete.body == {"preconditions": {"uid": X2K8P_UID}}
    assert undo.detail == f"deleted pod shop/{X2K8P}" and "ready_after_s" not in undo.data
    assert len(apiserver.requests("GET", PODS)) == 1  # the siblings, before the delete only


def test_a_replacement_not_ready_in_time_is_recorded_not_raised(apiserver, kube_env):
    apiserver.load("pod-kill-stuck")
    undo = kill(
        pod("web-7d4b9c6f5-m9qzt", "c2e4a6b8-0d1f-4e3a-8b5c-7d9e1f3a5b7c"), ready_timeout="1s"
    )
    (delete,) = apiserver.requests("DELETE")
    last_look = apiserver.requests("GET", PODS)[-1]
    assert 0.95 < last_look.at - delete.at < 1.5  # looked until the timeout, not beyond
    assert undo.detail.endswith("; no replacement Ready within 1s")
    assert undo.data["replacement"] == "no replacement Ready within 1s"
    assert "ready_after_s" not in undo.data


def test_a_pod_without_a_controller_expects_no_replacement(apiserver, kube_env):
    apiserver.load("pod-kill")
    undo = kill(pod("debug-shell", "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"))
    assert "no controller owns it" in undo.detail
    assert apiserver.requests("GET", PODS) == []


@pytest.mark.parametrize(
    ("name", "uid", "deleted"),
    [
        ("web-7d4b9c6f5-gone1", "11111111-0000-4000-8000-000000000000", 0),  # 404 on read
        ("web-7d4b9c6f5-r3pl4", "not-the-successors-uid", 0),  # a successor took the name
        ("web-7d4b9c6f5-r4c3d", "77777777-1111-4222-8333-444444444444", 1),  # 409 on delete
    ],
)
def test_a_pod_that_vanished_is_a_fault_error_naming_it(apiserver, kube_env, name, uid, deleted):
    apiserver.load("pod-kill")
    with pytest.raises(FaultError, match=f"pod shop/{name} \\(uid {uid}\\) vanished") as caught:
        kill(pod(name, uid))
    assert caught.value.exit_code is ExitCode.ERROR
    assert len(apiserver.requests("DELETE")) == deleted


def planned(target: Target) -> PlannedFault:
    return PlannedFault(
        fault_id="f1",
        key="k",
        step_path="spec.method[0]",
        label="pod-kill on web",
        fault=CATALOG["pod-kill"],
        params=Params(wait_ready=False),
        target_name="web",
        target=target,
        peers={},
        duration=0.0,
    )


def test_the_executor_checks_the_pod_still_exists_first(apiserver, kube_env, cluster):
    apiserver.load("pod-kill")
    executor = LocalExecutor(backends={TargetKind.POD: KubernetesPods(cluster)})
    gone = pod("web-7d4b9c6f5-gone1", "11111111-0000-4000-8000-000000000000")
    with pytest.raises(FaultError, match="vanished before injection") as caught:
        executor.apply(planned(gone), ttl_s=None)
    assert caught.value.target == "web" and apiserver.requests("DELETE") == []
    applied = executor.apply(planned(pod(X2K8P, X2K8P_UID)), ttl_s=None)
    assert applied.undo.detail == f"deleted pod shop/{X2K8P}"


def test_rbac_refusing_the_delete_is_reported_as_such(apiserver, kube_env, cluster):
    apiserver.load("errors")
    executor = LocalExecutor(backends={TargetKind.POD: KubernetesPods(cluster)})
    with pytest.raises(FaultError) as caught:
        executor.apply(planned(pod(X2K8P, X2K8P_UID)), ttl_s=None)
    assert caught.value.message.startswith(
        "RBAC forbids delete pods in namespace shop: "
        f'pods "{X2K8P}" is forbidden: User "system:serviceaccount:chaos:chaos-controller" '
        'cannot delete resource "pods"'
    )
    assert caught.value.step == "spec.method[0]" and caught.value.target == "web"


def test_pod_kill_acts_from_the_controller_on_pods_only():
    fault = CATALOG["pod-kill"]
    assert fault.where == "controller" and fault.target_kinds == {TargetKind.POD}
