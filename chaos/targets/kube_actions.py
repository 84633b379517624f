"""What Kubernetes faults do, as functions of plain data (names, uids, seconds).

Faults journal only plain data in their Undo, so a revert can run from it alone:
these functions take a :class:`~chaos.targets.kubernetes.KubeCluster` and names,
never a Target. No import of the Kubernetes client here: every API call goes
through the cluster object, which translates its errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.targets import kube_objects as objects
from chaos.targets.kube_errors import KubeApiError

if TYPE_CHECKING:  # for annotations only: importing it would load the client
    from chaos.targets.kubernetes import KubeCluster

POLL_S = 0.25
MAX_POLL_S = 1.0


@dataclass(frozen=True)
class PodKill:
    """A pod about to be deleted, and what is needed to recognise its replacement."""

    namespace: str
    name: str
    uid: str
    owner_uid: str | None  # its controller (ReplicaSet, StatefulSet, ...); None: a bare pod
    known_uids: frozenset[str]  # the controller's pods before the delete: none is a replacement


def prepare_kill(cluster: KubeCluster, *, namespace: str, name: str, uid: str) -> PodKill | None:
    """Read the pod and its siblings before deleting it; None if it is gone or replaced."""
    try:
        pod = cluster.read_pod(namespace, name)
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise
    if pod.metadata.uid != uid or objects.being_deleted(pod):
        return None
    owner = objects.controller(pod)
    known = {uid}
    if owner is not None:
        # the whole namespace, filtered by owner uid: the victim's labels may have been
        # edited, and a label selector would then miss its replacement
        known |= {
            sibling.metadata.uid
            for sibling in cluster.list_pods(namespace)
            if _owned_by(sibling, owner.uid)
        }
    return PodKill(namespace, name, uid, owner.uid if owner else None, frozenset(known))


def delete_pod(
    cluster: KubeCluster, *, namespace: str, name: str, uid: str, grace_period_seconds: int | None
) -> bool:
    """Delete the pod with this uid; False if it was already gone or replaced (404, 409)."""
    try:
        cluster.delete_pod(namespace, name, uid=uid, grace_period_seconds=grace_period_seconds)
    except KubeApiError as exc:
        if exc.status in {404, 409}:
            return False
        raise
    return True


def wait_for_replacement(
    cluster: KubeCluster,
    kill: PodKill,
    *,
    timeout_s: float,
    poll_s: float = POLL_S,
    max_poll_s: float = MAX_POLL_S,
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """Seconds until a pod of the same controller that did not exist before the delete
    is Ready, or None if none is within ``timeout_s``.

    Each poll lists the whole namespace (see :func:`prepare_kill`), so the interval
    grows from ``poll_s`` to ``max_poll_s``: fine timing for fast recoveries, at most
    one list a second for slow ones."""
    if kill.owner_uid is None:
        return None
    started = clock()
    while True:
        for pod in cluster.list_pods(kill.namespace):
            if (
                _owned_by(pod, kill.owner_uid)
                and pod.metadata.uid not in kill.known_uids
                and objects.is_ready(pod)
            ):
                return clock() - started
        remaining = started + timeout_s - clock()
        if remaining <= 0:
            return None
        time.sleep(min(poll_s, remaining))  # the last look is at the timeout itself
        poll_s = min(poll_s * 1.5, max_poll_s)


def _owned_by(pod: Any, owner_uid: str) -> bool:
    owner = objects.controller(pod)
    return owner is not None and owner.uid == owner_uid


def is_unschedulable(cluster: KubeCluster, node: str) -> bool:
    found = cluster.read_node(node)
    return bool(found.spec and found.spec.unschedulable)


def cordon(cluster: KubeCluster, node: str) -> None:
    cluster.set_unschedulable(node, True)


def uncordon(cluster: KubeCluster, node: str) -> None:
    """Make the node schedulable again; a node that is gone needs nothing."""
    try:
        cluster.set_unschedulable(node, False)
    except KubeApiError as exc:
        if exc.status != 404:
            raise


@dataclass
class DrainResult:
    evicted: list[str] = field(default_factory=list)  # "namespace/name"
    skipped: dict[str, str] = field(default_factory=dict)  # pod → why it stays
    blocked: dict[str, str] = field(default_factory=dict)  # pod → the API's last refusal

    def summary(self) -> str:
        parts = [f"evicted {len(self.evicted)} pod(s)"]
        if self.skipped:
            parts.append(f"left {len(self.skipped)} alone ({_reasons(self.skipped)})")
        if self.blocked:
            parts.append(
                f"{len(self.blocked)} not evicted, refused until the timeout "
                f"(PodDisruptionBudget?): {', '.join(sorted(self.blocked))}"
            )
        return "; ".join(parts)


def _reasons(skipped: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for reason in skipped.values():
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))


def drain(
    cluster: KubeCluster,
    node: str,
    *,
    grace_period_seconds: int | None,
    timeout_s: float,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Cordon, then evict every pod on the node but DaemonSet and mirror pods, as
    ``kubectl drain --ignore-daemonsets`` does. An eviction refused with 429 (a
    PodDisruptionBudget) is retried until ``timeout_s``, then reported in ``blocked``."""
    cordon(cluster, node)
    result = DrainResult()
    pending: list[tuple[str, str]] = []
    for pod in cluster.list_pods_on_node(node):
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        reason = objects.drain_skip_reason(pod)
        if reason:
            result.skipped[key] = reason
        else:
            pending.append((pod.metadata.namespace, pod.metadata.name))
    deadline = clock() + timeout_s
    while pending:
        refused: list[tuple[str, str]] = []
        for namespace, name in pending:
            key = f"{namespace}/{name}"
            try:
                cluster.evict_pod(namespace, name, grace_period_seconds=grace_period_seconds)
            except KubeApiError as exc:
                if exc.status == 429:
                    result.blocked[key] = exc.api_message
                    refused.append((namespace, name))
                    continue
                if exc.status != 404:  # 404: already gone, which is what we wanted
                    raise
            result.blocked.pop(key, None)
            result.evicted.append(key)
        pending = refused
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        time.sleep(min(poll_s, remaining))  # the last try is at the timeout itself
    return result
