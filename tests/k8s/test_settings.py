"""Kubernetes settings come from the environment, with the documented defaults; the
Kubernetes client is imported only when a cluster is actually used.

(No API server here: the other tests in this directory run the official client against
answers hand-written in the v1 API's format, not captured from a live cluster.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from chaos.errors import TargetError
from chaos.spec.models import Selector, TargetKind
from chaos.targets.base import Scope
from chaos.targets.kube_settings import KubeSettings
from chaos.targets.kubernetes import cluster_backends, connect


def test_defaults_without_any_variable():
    settings = KubeSettings.from_env({})
    assert settings.kubeconfig is None and not settings.in_cluster
    assert settings.namespace == "chaos"
    assert settings.agent_selector == "app.kubernetes.io/name=chaos-agent"
    assert settings.agent_url("10.0.0.7") == "https://10.0.0.7:7070"
    assert settings.allowed_namespaces is None  # unset: no controller-level allowlist
    assert settings.timeout_s == 10.0


def test_every_variable_is_read():
    settings = KubeSettings.from_env(
        {
            "KUBECONFIG": "/etc/chaos/kubeconfig",
            "CHAOS_K8S_CONTEXT": "kind-chaos",
            "CHAOS_NAMESPACE": "chaos-system",
            "CHAOS_AGENT_SELECTOR": "app=agent",
            "CHAOS_AGENT_PORT": "9443",
            "CHAOS_AGENT_SCHEME": "http",
            "CHAOS_ALLOWED_NAMESPACES": "shop, qa,",
            "CHAOS_K8S_TIMEOUT": "2.5",
        }
    )
    assert (settings.kubeconfig, settings.context) == ("/etc/chaos/kubeconfig", "kind-chaos")
    assert settings.namespace == "chaos-system" and settings.agent_selector == "app=agent"
    assert settings.agent_url("fd00::7") == "http://[fd00::7]:9443"
    assert settings.allowed_namespaces == ("shop", "qa")
    assert settings.timeout_s == 2.5


def test_in_cluster_only_without_a_kubeconfig():
    assert KubeSettings.from_env({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}).in_cluster
    both = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBECONFIG": "/tmp/kc"}
    assert not KubeSettings.from_env(both).in_cluster


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CHAOS_AGENT_PORT", "seven", "CHAOS_AGENT_PORT must be a number"),
        ("CHAOS_K8S_TIMEOUT", "0", "CHAOS_K8S_TIMEOUT must be positive"),
        ("CHAOS_AGENT_SCHEME", "ftp", "CHAOS_AGENT_SCHEME must be http or https"),
    ],
)
def test_a_bad_value_is_refused_with_its_name(name, value, message):
    with pytest.raises(TargetError, match=message):
        KubeSettings.from_env({name: value})


def test_a_missing_kubeconfig_is_reported_where_the_cluster_is_used(tmp_path):
    cluster = connect(KubeSettings(kubeconfig=str(tmp_path / "nope")))  # reads nothing yet
    with pytest.raises(TargetError, match=r"no usable Kubernetes configuration in .*nope"):
        cluster.list_nodes()


def test_building_the_backends_reads_nothing(monkeypatch):
    monkeypatch.setenv("CHAOS_AGENT_PORT", "not-a-port")
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    backends = cluster_backends()  # default_backends() must not fail for a bad environment
    assert set(backends) == {TargetKind.POD, TargetKind.NODE}
    pods = backends[TargetKind.POD]
    with pytest.raises(TargetError, match="CHAOS_AGENT_PORT must be a number"):
        pods.candidates(selector=Selector(namespace="shop", labels={"app": "web"}), scope=Scope())


def test_the_kubernetes_client_is_imported_only_when_used():
    code = (
        "import sys, chaos.targets.kubernetes, chaos.faults.pod, chaos.faults.node, chaos.faults;"
        "chaos.faults.CATALOG['pod-kill']; chaos.faults.CATALOG['node-drain'];"
        "print('kubernetes' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_a_set_but_empty_allowlist_allows_nothing():
    """The Helm chart always sets the variable: an empty list of allowed namespaces must
    not turn into "any namespace"."""
    assert KubeSettings.from_env({"CHAOS_ALLOWED_NAMESPACES": ""}).allowed_namespaces == ()
