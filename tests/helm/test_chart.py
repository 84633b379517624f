"""The Helm chart (helm/chaos): it lints, renders manifests a Kubernetes API server would
accept (schema-validated, strict), refuses unsafe values, and grants least privilege:
RBAC only in the allowed namespaces, agents without API access, secrets only in Secrets.

No cluster runs here, so this is what CI can prove about the chart; docs/kubernetes.md
says what was not tried against a real one. The workloads: test_chart_workloads.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.helm.chart import (
    CHART,
    NAMESPACE,
    VALUE_SETS,
    Render,
    agent_pod,
    run_helm,
    values_args,
)

KUBE_VERSION = "1.33.0"


# ---------------------------------------------------------------- lint and validate


@pytest.mark.parametrize("values", VALUE_SETS)
def test_chart_lints_strictly(helm: Path, values: str | None) -> None:
    done = run_helm(helm, "lint", "--strict", str(CHART), *values_args(values))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_manifest_is_valid_kubernetes(render: Render, values: str | None) -> None:
    problems = []
    for doc in render(values).docs:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("values", VALUE_SETS)
def test_notes_tell_how_to_run_an_experiment(helm: Path, values: str | None) -> None:
    done = run_helm(
        helm, "install", "chaos", str(CHART), "-n", NAMESPACE, "--dry-run=client",
        *values_args(values),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n chaos exec deploy/chaos-controller -- chaos run " in notes
    assert ("WARNING: allowedNamespaces is empty" in notes) == (values is None)


def test_strict_validation_catches_an_unknown_field() -> None:
    """The check above is not vacuous: a misplaced field fails it."""
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "nme": "y"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(config_map, KUBE_VERSION, strict=True)


def test_kubernetes_before_1_30_gets_apparmor_by_annotation(render: Render) -> None:
    rendered = render("values-capabilities.yaml", kube_version="1.29.0")
    for doc in rendered.docs:
        kubernetes_validate.validate(doc, "1.29.0", strict=True)
    template = rendered.one("DaemonSet", "chaos-agent")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["container.apparmor.security.beta.kubernetes.io/agent"] == "unconfined"
    assert "appArmorProfile" not in template["spec"]["containers"][0]["securityContext"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("allowedNamespaces={kube-system}",), "kube-system is protected"),
        (("allowedNamespaces={chaos}",), "chaos is protected"),
        (("auth.token.enabled=false",), "enable auth.token, auth.tls or both"),
        (("auth.tls.enabled=true",), "needs auth.tls.agentSecret"),
        (("agent.cri.runtime=custom",), "needs agent.cri.socketPath"),
        (("agent.privilegd=false",), "additional properties 'privilegd' not allowed"),
        (("agent.iptablesBackend=iptables",), "iptablesBackend"),
    ],
)
def test_unsafe_or_impossible_values_are_refused(
    helm: Path, sets: tuple[str, ...], message: str
) -> None:
    done = run_helm(
        helm, "template", "chaos", str(CHART), "-n", NAMESPACE, *values_args(None, sets)
    )
    assert done.returncode != 0
    assert message in done.stderr


def test_protected_namespace_renders_once_allowed(render: Render) -> None:
    rendered = render(None, "allowedNamespaces={kube-system}", "allowProtectedNamespaces=true")
    assert rendered.one("RoleBinding", "chaos-targets", namespace="kube-system")


# ---------------------------------------------------------------- RBAC and secrets


@pytest.mark.parametrize("values", VALUE_SETS)
def test_no_cluster_wide_power_over_pods(render: Render, values: str | None) -> None:
    """No ClusterRole deletes pods; only the opt-in drain role evicts them."""
    for role in render(values).all("ClusterRole"):
        name = role["metadata"]["name"]
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], name
            if "pods" in rule["resources"]:
                assert set(rule["verbs"]) <= {"get", "list"}, name
            if "pods/eviction" in rule["resources"]:
                assert name.endswith("-drain"), name


def test_one_role_binding_per_allowed_namespace(render: Render) -> None:
    rendered = render("values-full.yaml")
    bindings = [b for b in rendered.all("RoleBinding") if b["metadata"]["name"] == "chaos-targets"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "search", "shop"]
    for binding in bindings:
        namespace = binding["metadata"]["namespace"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "chaos-controller", "namespace": NAMESPACE}
        ]
        role = rendered.one("Role", binding["roleRef"]["name"], namespace=namespace)
        assert {(r["resources"][0], tuple(r["verbs"])) for r in role["rules"]} == {
            ("pods", ("get", "list", "delete")),
            ("pods/eviction", ("create",)),
        }
    drain = rendered.one("ClusterRole", "chaos-chaos-drain", namespace=None)
    assert drain["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    ]
    assert render().all("ClusterRoleBinding")[0]["metadata"]["name"] == "chaos-chaos-nodes"
    assert len(render().all("ClusterRole")) == 1  # no drain role unless asked for


def test_default_allows_no_namespace(render: Render) -> None:
    rendered = render()
    assert [r["metadata"]["name"] for r in rendered.all("Role")] == ["chaos-controller"]
    nodes = rendered.one("ClusterRole", "chaos-chaos-nodes", namespace=None)
    assert nodes["rules"][0]["verbs"] == ["get", "list", "patch"]
    assert render("values-capabilities.yaml").all("ClusterRole") == []  # rbac.nodes: false


@pytest.mark.parametrize("values", VALUE_SETS)
def test_secrets_stay_in_secrets(render: Render, values: str | None) -> None:
    rendered = render(values)
    secret_values = [
        base64.b64decode(value).decode()
        for secret in rendered.all("Secret")
        for value in secret.get("data", {}).values()
    ]
    assert all(len(value) >= 32 for value in secret_values)  # generated tokens
    for doc in rendered.docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        assert not any(value in text for value in secret_values), doc["kind"]
    for config_map in rendered.all("ConfigMap"):
        assert "token" not in " ".join(config_map.get("data", {})).lower()


def test_generated_secrets_are_referenced_not_copied(render: Render) -> None:
    rendered = render()
    names = {s["metadata"]["name"] for s in rendered.all("Secret")}
    assert names == {"chaos-agent-token", "chaos-api-token"}
    agent = agent_pod(rendered)
    assert {
        "name": "token",
        "secret": {"secretName": "chaos-agent-token", "defaultMode": 0o400},
    } in agent["volumes"]
