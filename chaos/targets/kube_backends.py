"""The Kubernetes target backends: running pods of a namespace, and nodes.

Both share one :class:`~chaos.targets.kubernetes.KubeCluster` (the only place that
imports the Kubernetes client); this module only applies the selection rules of
:mod:`chaos.targets.kube_objects` to what the cluster lists, so it imports no client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from chaos.errors import TargetError
from chaos.spec.models import Selector, TargetKind
from chaos.targets import kube_objects as objects
from chaos.targets.base import Scope, Target
from chaos.targets.kube_errors import KubeApiError

if TYPE_CHECKING:  # for annotations only: importing it at run time would be a cycle
    from chaos.targets.kubernetes import KubeCluster


class KubernetesPods:
    """Running pods of one namespace, each paired with the chaos agent on its node."""

    kind = TargetKind.POD

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        settings = self.cluster.settings
        namespace = selector.namespace or "default"
        _check_allowed(namespace, scope.allowed_namespaces)
        _check_allowed(namespace, settings.allowed_namespaces)
        fields = dict(selector.fields)
        if selector.node:
            fields["spec.nodeName"] = selector.node
        pods = self.cluster.list_pods(
            namespace,
            labels=objects.selector_string(selector.labels),
            fields=objects.selector_string(fields),
        )
        running = [
            pod
            for pod in pods
            if objects.is_running(pod)
            and (not selector.names or pod.metadata.name in selector.names)
        ]
        if not running:
            return []
        agents = objects.agent_urls(
            self.cluster.list_pods(settings.namespace, labels=settings.agent_selector),
            url_for=settings.agent_url,
        )
        return [
            objects.pod_target(pod, container=selector.container, agents=agents) for pod in running
        ]

    def exists(self, target: Target) -> bool:
        attributes = target.attributes
        pod = _read_or_none(
            lambda: self.cluster.read_pod(attributes["namespace"], attributes["pod"])
        )
        return (
            pod is not None
            and pod.metadata.uid == attributes["pod_uid"]
            and not objects.being_deleted(pod)
        )


class KubernetesNodes:
    """Cluster nodes, by labels, field selectors and names."""

    kind = TargetKind.NODE

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        nodes = self.cluster.list_nodes(
            labels=objects.selector_string(selector.labels),
            fields=objects.selector_string(selector.fields),
        )
        return [
            objects.node_target(node)
            for node in nodes
            if not selector.names or node.metadata.name in selector.names
        ]

    def exists(self, target: Target) -> bool:
        name = target.attributes.get("node", target.node)
        node = _read_or_none(lambda: self.cluster.read_node(name))
        return node is not None and f"node/{name}/{node.metadata.uid}" == target.uid


def _check_allowed(namespace: str, allowed: Iterable[str] | None) -> None:
    """The planner checks the scope's allowlist first; the backend never lists outside
    either list, whoever calls it."""
    if allowed is not None and namespace not in allowed:
        raise TargetError(
            f"namespace {namespace!r} is not in the controller's allowed namespaces "
            f"({', '.join(sorted(allowed)) or 'none'})"
        )


def _read_or_none(read: Callable[[], Any]) -> Any | None:
    try:
        return read()
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise
