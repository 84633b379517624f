"""Cluster safety in planning: namespaces, hostNetwork pods, caps — all refused before
anything is listed or injected.

Planning is pure, so these tests give the planner an in-memory backend holding fixed
pod targets (the real Kubernetes backend is tested against recorded API answers in
tests/k8s); nothing here needs a cluster.
"""

from __future__ import annotations

import random

import pytest

from chaos.errors import EmptySelection, PlanError
from chaos.faults import CATALOG
from chaos.plan.planner import make_plan
from chaos.spec.loader import load_text
from chaos.spec.models import Experiment, Selector, TargetKind
from chaos.targets.base import Scope, Target


def pod(name: str, *, host_network: bool = False, namespace: str = "shop") -> Target:
    return Target(
        kind=TargetKind.POD,
        uid=f"{namespace}/{name}/uid-{name}",
        display=f"pod {namespace}/{name}",
        node="node-1",
        labels={"app": "api"},
        attributes={"namespace": namespace, "host_network": "true" if host_network else "false"},
    )


class Pods:
    """Fixed pods; records the selectors it was asked for (to prove a refusal lists nothing)."""

    kind = TargetKind.POD

    def __init__(self, pods: list[Target]) -> None:
        self.pods = pods
        self.asked: list[Selector] = []

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        self.asked.append(selector)
        return [p for p in self.pods if p.attributes["namespace"] == selector.namespace]

    def exists(self, target: Target) -> bool:
        return target in self.pods


def experiment(
    *, namespace: str = "shop", fault: str = "network-partition", safety: str = ""
) -> Experiment:
    text = f"""\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: cluster-safety}}
spec:
  targets:
    api: {{kind: pod, selector: {{namespace: {namespace}, labels: {{app: api}}}}, mode: "one"}}
  steadyState:
    probes: [{{name: up, http: {{url: "http://127.0.0.1:1/"}}}}]
  method:
    - {{fault: {fault}, target: api, duration: 1s}}
{safety}"""
    return load_text(text, file="cluster-safety.yaml", catalog=CATALOG)


def plan(exp, backend: Pods, scope: Scope | None = None):
    return make_plan(
        exp,
        catalog=CATALOG,
        backends={TargetKind.POD: backend},
        scope=scope or Scope(),
        run_key="chaos-test",
        rng=random.Random(1),
    )


def test_a_namespace_outside_the_controllers_allowlist_is_refused_before_listing():
    backend = Pods([pod("a")])
    with pytest.raises(PlanError, match="not in the controller's allowed namespaces \\(dev, qa\\)"):
        plan(experiment(), backend, Scope(allowed_namespaces=frozenset({"dev", "qa"})))
    assert backend.asked == []


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "chaos"])
def test_protected_namespaces_need_to_be_named_in_the_experiment(namespace):
    backend = Pods([pod("a", namespace=namespace)])
    with pytest.raises(PlanError, match="protected") as caught:
        plan(experiment(namespace=namespace), backend)
    assert caught.value.target == "api"
    assert backend.asked == []
    allowed = f"  safety: {{allowProtectedNamespaces: [{namespace}]}}\n"
    assert plan(experiment(namespace=namespace, safety=allowed), backend).selected["api"]


def test_naming_a_protected_namespace_does_not_bypass_the_allowlist():
    backend = Pods([pod("a", namespace="kube-system")])
    exp = experiment(
        namespace="kube-system", safety="  safety: {allowProtectedNamespaces: [kube-system]}\n"
    )
    with pytest.raises(PlanError, match="not in the controller's allowed"):
        plan(exp, backend, Scope(allowed_namespaces=frozenset({"shop"})))


def test_the_platforms_own_namespace_follows_the_scope():
    backend = Pods([pod("a", namespace="chaos-system")])
    with pytest.raises(PlanError, match="protected"):
        plan(
            experiment(namespace="chaos-system"), backend, Scope(platform_namespace="chaos-system")
        )
    assert plan(experiment(namespace="chaos-system"), backend).selected["api"]


def test_a_host_network_candidate_refuses_node_faults_whichever_pod_is_picked():
    backend = Pods([pod("a"), pod("b", host_network=True)])
    for seed in range(5):  # mode one: the refusal does not depend on the random pick
        with pytest.raises(PlanError, match="pod shop/b uses hostNetwork") as caught:
            make_plan(
                experiment(),
                catalog=CATALOG,
                backends={TargetKind.POD: backend},
                scope=Scope(),
                run_key="k",
                rng=random.Random(seed),
            )
        assert caught.value.step == "spec.method[0]"
    assert plan(experiment(safety="  safety: {allowHostNetwork: true}\n"), backend).steps


def test_an_empty_selection_names_the_selector_and_namespace():
    with pytest.raises(EmptySelection, match="pod selector app=api matched nothing in namespace"):
        plan(experiment(), Pods([]))


def test_max_targets_caps_pods_in_planning():
    backend = Pods([pod(name) for name in "abcd"])
    text = experiment(safety="  safety: {maxTargets: 25%}\n").model_dump(by_alias=True)
    text["spec"]["targets"]["api"]["mode"] = "percent:50"
    with pytest.raises(PlanError, match="blast radius: 2 of 4 targets exceeds"):
        plan(Experiment.model_validate(text), backend)
