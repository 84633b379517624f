"""Pure functions over the Kubernetes client's API objects: selection rules and targets.

The objects are the official client's models (``V1Pod``, ``V1Node``), read by
attribute only, so this module needs no import of the client and its rules are
testable on their own: which pods count as running, which are ready, which a
drain leaves alone, which agent serves a node, and how a pod or node becomes a
:class:`~chaos.targets.base.Target` with the attribute names every backend shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chaos.errors import TargetError
from chaos.spec.models import TargetKind
from chaos.targets.base import Target

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"  # a static pod's copy in the API


def selector_string(pairs: Mapping[str, str]) -> str | None:
    """``{"app": "web", "tier": "front"}`` → ``"app=web,tier=front"`` (None when empty)."""
    return ",".join(f"{key}={value}" for key, value in pairs.items()) or None


def being_deleted(obj: Any) -> bool:
    return obj.metadata.deletion_timestamp is not None


def is_running(pod: Any) -> bool:
    """Running and not on its way out: the only pods worth injecting into."""
    return pod.status is not None and pod.status.phase == "Running" and not being_deleted(pod)


def is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return is_running(pod) and any(c.type == "Ready" and c.status == "True" for c in conditions)


def controller(pod: Any) -> Any | None:
    """The owner reference that controls the pod (ReplicaSet, StatefulSet, ...), if any."""
    for owner in pod.metadata.owner_references or []:
        if owner.controller:
            return owner
    return None


def drain_skip_reason(pod: Any) -> str | None:
    """Why a drain leaves this pod alone (as ``kubectl drain --ignore-daemonsets`` does)."""
    owner = controller(pod)
    if owner is not None and owner.kind == "DaemonSet":
        return "DaemonSet pod"
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return "mirror pod"
    if being_deleted(pod):
        return "already terminating"
    return None


def agent_urls(pods: Iterable[Any], *, url_for: Any) -> dict[str, str]:
    """node name → agent URL, from the agent DaemonSet's Ready pods."""
    urls: dict[str, str] = {}
    for pod in pods:
        if is_ready(pod) and pod.spec.node_name and pod.status.pod_ip:
            urls[pod.spec.node_name] = url_for(pod.status.pod_ip)
    return urls


def pod_display(namespace: str, name: str) -> str:
    return f"pod {namespace}/{name}"


def pod_target(pod: Any, *, container: str | None, agents: Mapping[str, str]) -> Target:
    """A running pod as a target; ``container`` None picks the pod's first container."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    display = pod_display(meta.namespace, meta.name)
    names = [c.name for c in spec.containers or []]
    chosen = container or (names[0] if names else None)
    if chosen is None or chosen not in names:
        raise TargetError(
            f"{display} has no container {chosen!r} (it has: {', '.join(names) or 'none'})",
            target=display,
            node=spec.node_name,
        )
    attributes = {
        "namespace": meta.namespace,
        "pod": meta.name,
        "pod_uid": meta.uid,
        "container": chosen,
        "host_network": "true" if spec.host_network else "false",
    }
    if status.pod_ip:
        attributes["ip"] = status.pod_ip
    for state in status.container_statuses or []:
        if state.name == chosen and state.container_id:  # empty until the container started
            attributes["container_id"] = state.container_id
    if spec.node_name in agents:
        attributes["agent"] = agents[spec.node_name]
    return Target(
        kind=TargetKind.POD,
        uid=f"{meta.namespace}/{meta.name}/{meta.uid}",
        display=display,
        node=spec.node_name or "",
        labels=dict(meta.labels or {}),
        attributes=attributes,
    )


def node_target(node: Any) -> Target:
    meta = node.metadata
    unschedulable = bool(node.spec and node.spec.unschedulable)
    return Target(
        kind=TargetKind.NODE,
        uid=f"node/{meta.name}/{meta.uid}",
        display=f"node {meta.name}",
        node=meta.name,
        labels=dict(meta.labels or {}),
        attributes={"node": meta.name, "unschedulable": "true" if unschedulable else "false"},
    )
