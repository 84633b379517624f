"""node-cordon and node-drain: take Kubernetes nodes out of scheduling, through the API.

- **node-cordon** marks the node unschedulable (``kubectl cordon``); running pods
  stay. Revert uncordons it.
- **node-drain** cordons, then evicts (policy/v1 Eviction, so PodDisruptionBudgets
  are honoured) every pod on the node except DaemonSet and mirror pods, as
  ``kubectl drain --ignore-daemonsets`` does. An eviction a budget refuses (429) is
  retried until ``timeout``, then recorded, not raised: the steady state judges.
  Revert uncordons the node; the evicted pods are *not* restored — their
  controllers have already rescheduled them elsewhere, and they may come back to
  this node only as new pods are scheduled.

Whether the node was already unschedulable is read before anything changes and
journaled: a node someone else had cordoned stays cordoned after the revert.
Both are applied from the controller (``Where.CONTROLLER``).
"""

from __future__ import annotations

from pydantic import Field

from chaos.errors import FaultError
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo, Where
from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind
from chaos.spec.units import Duration

CORDON = "node-cordon"
DRAIN = "node-drain"


class CordonParams(FaultParams):
    """No parameters."""


class DrainParams(FaultParams):
    grace_period: Duration | None = Field(
        default=None, ge=0, description="Grace period of each eviction (default: each pod's own)."
    )
    timeout: Duration = Field(
        default=120.0,
        gt=0,
        description="How long evictions a PodDisruptionBudget refuses are retried.",
    )


def prepare_cordon(request: FaultRequest, host: HostContext) -> Undo:
    return _prepare(request, CORDON)


def prepare_drain(request: FaultRequest, host: HostContext) -> Undo:
    return _prepare(request, DRAIN)


def _prepare(request: FaultRequest, fault: str) -> Undo:
    from chaos.targets import kube_actions
    from chaos.targets.kubernetes import connect

    target = request.target
    if target.kind is not TargetKind.NODE:
        raise FaultError(f"{fault} needs a Kubernetes node target", target=target.display)
    node = target.attributes.get("node", target.node)
    with connect() as cluster:
        was_unschedulable = kube_actions.is_unschedulable(cluster, node)
    data = {"node": node, "was_unschedulable": was_unschedulable}
    return Undo(fault=fault, data=data, backend="kubernetes")


def apply_cordon(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.targets import kube_actions
    from chaos.targets.kubernetes import connect

    node = undo.data["node"]
    if undo.data["was_unschedulable"]:
        detail = f"node {node} was already cordoned: left cordoned, also after the revert"
    else:
        with connect() as cluster:
            kube_actions.cordon(cluster, node)
        detail = f"cordoned node {node}"
    return Undo(fault=CORDON, data=undo.data, detail=detail, backend=undo.backend)


def apply_drain(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.targets import kube_actions
    from chaos.targets.kubernetes import connect

    assert isinstance(request.params, DrainParams)
    params = request.params
    node = undo.data["node"]
    grace = None if params.grace_period is None else round(params.grace_period)
    with connect() as cluster:
        result = kube_actions.drain(
            cluster, node, grace_period_seconds=grace, timeout_s=params.timeout
        )
    data = {
        **undo.data,
        "evicted": result.evicted,
        "skipped": result.skipped,
        "blocked": result.blocked,
    }
    detail = (
        f"drained node {node}: {result.summary()}; evicted pods are rescheduled by their "
        "controllers, not restored by the revert"
    )
    return Undo(fault=DRAIN, data=data, detail=detail, backend=undo.backend)


def uncordon(undo: Undo, host: HostContext) -> None:
    """Make the node schedulable again, unless it was cordoned before the fault."""
    from chaos.targets import kube_actions
    from chaos.targets.kubernetes import connect

    if undo.data.get("was_unschedulable", True):  # unknown: leave the node as it is
        return
    with connect() as cluster:
        kube_actions.uncordon(cluster, undo.data["node"])


NODE_KINDS = frozenset({TargetKind.NODE})

CORDON_FAULT = FaultType(
    name=CORDON,
    summary="Mark each selected node unschedulable (kubectl cordon); revert uncordons it.",
    params=CordonParams,
    prepare=prepare_cordon,
    apply=apply_cordon,
    revert=uncordon,
    target_kinds=NODE_KINDS,
    where=Where.CONTROLLER,
)

DRAIN_FAULT = FaultType(
    name=DRAIN,
    summary="Cordon each selected node and evict its pods (not DaemonSet or mirror pods, "
    "PodDisruptionBudgets honoured); revert uncordons it, evicted pods are not restored.",
    params=DrainParams,
    prepare=prepare_drain,
    apply=apply_drain,
    revert=uncordon,
    target_kinds=NODE_KINDS,
    where=Where.CONTROLLER,
)
