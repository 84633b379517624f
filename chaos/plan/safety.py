"""Cluster safety checks made while planning, before anything is listed or injected.

- A pod selector's namespace must be in the controller's allowlist when it has
  one (``Scope.allowed_namespaces``, set by the Helm chart from the same values
  as its RBAC), and a protected namespace (``kube-system``, ``kube-public``,
  ``kube-node-lease`` and the platform's own) must also be named, one by one, in
  the experiment's ``safety.allowProtectedNamespaces``.
- A node fault (network, disk, stress) on a ``hostNetwork`` pod acts on the
  node's own namespaces: refused unless ``safety.allowHostNetwork``. Every
  candidate is checked, not only the ones picked, so the answer does not depend
  on the random pick.

Counts and percentages (``mode`` and ``safety.maxTargets``) are checked by the
planner itself, also before any injection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chaos.errors import PlanError
from chaos.faults.base import FaultType, Where
from chaos.spec.models import Experiment, Selector, TargetKind, TargetSpec
from chaos.targets.base import Scope, Target

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
HOST_NETWORK_ATTRIBUTE = "host_network"


def check_namespace(
    experiment: Experiment, target_name: str, spec: TargetSpec, scope: Scope
) -> None:
    namespace = spec.selector.namespace
    if spec.kind is not TargetKind.POD or namespace is None:
        return
    name = experiment.metadata.name
    allowed = scope.allowed_namespaces
    if allowed is not None and namespace not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        raise PlanError(
            f"namespace {namespace!r} is not in the controller's allowed namespaces ({listed})",
            experiment=name,
            target=target_name,
        )
    protected = SYSTEM_NAMESPACES | {scope.platform_namespace}
    if (
        namespace in protected
        and namespace not in experiment.spec.safety.allow_protected_namespaces
    ):
        raise PlanError(
            f"namespace {namespace!r} is protected; to target it, name it in "
            "spec.safety.allowProtectedNamespaces",
            experiment=name,
            target=target_name,
        )


def check_host_network(
    experiment: Experiment,
    *,
    catalog: Mapping[str, FaultType],
    candidates: Mapping[str, Iterable[Target]],
) -> None:
    if experiment.spec.safety.allow_host_network:
        return
    for path, step in experiment.fault_steps():
        if catalog[step.fault].where is not Where.NODE:
            continue
        for target in candidates.get(step.target, ()):
            if target.attributes.get(HOST_NETWORK_ATTRIBUTE) == "true":
                raise PlanError(
                    f"{target.display} uses hostNetwork: {step.fault} there would act on all of "
                    f"node {target.node}; set spec.safety.allowHostNetwork to allow it",
                    experiment=experiment.metadata.name,
                    step=path,
                    target=step.target,
                )


def describe_selector(selector: Selector, kind: TargetKind, scope: Scope) -> str:
    """The selector in words, for 'matched nothing' errors."""
    parts = [",".join(f"{k}={v}" for k, v in selector.labels.items())] if selector.labels else []
    if selector.names:
        parts.append("names " + ",".join(selector.names))
    if selector.fields:
        parts.append("fields " + ",".join(f"{k}={v}" for k, v in selector.fields.items()))
    where = {
        TargetKind.PROCESS: f"in lab {selector.lab or scope.lab_id!r}",
        TargetKind.CONTAINER: "on docker hosts " + (",".join(selector.hosts) or "(all)"),
        TargetKind.POD: f"in namespace {selector.namespace!r}"
        + (f" on node {selector.node!r}" if selector.node else ""),
        TargetKind.NODE: "among the cluster's nodes",
    }[kind]
    return f"{kind} selector {' '.join(parts)} matched nothing {where}"
