"""pod-kill: delete the selected pods through the Kubernetes API, then time the recovery.

Irreversible on purpose: a deleted pod is not restored; its controller (a
ReplicaSet, a StatefulSet) makes a replacement, and how long that takes is the
point of the experiment. With ``waitReady`` the fault waits for a replacement
(a pod of the same controller that did not exist before the delete) to be Ready
and records the seconds. A replacement that is not Ready in time is recorded,
not raised: the pod is gone either way, and the steady-state hypothesis judges.

The delete carries a uid precondition, so a pod that was replaced between
selection and injection (a successor with the same name) is never deleted.
Applied from the controller (``Where.CONTROLLER``), not by a node agent.
"""

from __future__ import annotations

from pydantic import Field

from chaos.errors import FaultError
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo, Where, nothing_to_revert
from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind
from chaos.spec.units import Duration

NAME = "pod-kill"


class Params(FaultParams):
    grace_period: Duration | None = Field(
        default=None,
        ge=0,
        description="Termination grace period, e.g. 0s to kill at once (default: the pod's own).",
    )
    wait_ready: bool = Field(
        default=True, description="Wait for a replacement pod to be Ready and record how long."
    )
    ready_timeout: Duration = Field(
        default=120.0, gt=0, description="How long to wait for the replacement."
    )


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    target = request.target
    attributes = target.attributes
    if target.kind is not TargetKind.POD or not {"namespace", "pod", "pod_uid"} <= set(attributes):
        raise FaultError(f"{NAME} needs a Kubernetes pod target", target=target.display)
    data = {
        "namespace": attributes["namespace"],
        "pod": attributes["pod"],
        "uid": attributes["pod_uid"],
    }
    return Undo(fault=NAME, data=data, backend="kubernetes")


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.targets import kube_actions
    from chaos.targets.kubernetes import connect

    assert isinstance(request.params, Params)
    params = request.params
    namespace, name, uid = undo.data["namespace"], undo.data["pod"], undo.data["uid"]
    grace = None if params.grace_period is None else round(params.grace_period)
    data = {**undo.data, "grace_period_seconds": grace}
    with connect() as cluster:
        kill = kube_actions.prepare_kill(cluster, namespace=namespace, name=name, uid=uid)
        deleted = kill is not None and kube_actions.delete_pod(
            cluster, namespace=namespace, name=name, uid=uid, grace_period_seconds=grace
        )
        if kill is None or not deleted:
            raise FaultError(
                f"{NAME}: pod {namespace}/{name} (uid {uid}) vanished before injection",
                target=request.target.display,
                node=request.target.node,
            )
        detail = f"deleted pod {namespace}/{name}"
        if grace is not None:
            detail += f" (grace period {grace}s)"
        if params.wait_ready and kill.owner_uid is None:
            detail += "; no controller owns it, so no replacement is expected"
            data["replacement"] = "none expected"
        elif params.wait_ready:
            waited = kube_actions.wait_for_replacement(
                cluster, kill, timeout_s=params.ready_timeout
            )
            if waited is None:
                detail += f"; no replacement Ready within {params.ready_timeout:g}s"
                data["replacement"] = f"no replacement Ready within {params.ready_timeout:g}s"
            else:
                detail += f"; replacement Ready after {waited:.1f}s"
                data["ready_after_s"] = round(waited, 3)
    return Undo(fault=NAME, data=data, detail=detail, backend=undo.backend)


FAULT = FaultType(
    name=NAME,
    summary="Delete each selected pod (uid-checked) and time its replacement until Ready; "
    "irreversible: the pod's controller recreates it.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=nothing_to_revert,
    reversible=False,
    target_kinds=frozenset({TargetKind.POD}),
    where=Where.CONTROLLER,
)
