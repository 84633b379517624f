"""Fixtures for the Kubernetes backend tests: a fake API server serving recorded answers,
and the official client pointed at it (directly, or through a kubeconfig in $KUBECONFIG).

The recordings are hand-written in the v1 API's format for these tests, not captured
from a live cluster here (see recordings/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.targets.kube_settings import KubeSettings
from chaos.targets.kubernetes import KubeCluster, api_client_for, connect
from tests.k8s.apiserver import FakeApiServer

TOKEN = "recorded-test-token"
KUBE_ENV = (
    "KUBERNETES_SERVICE_HOST",
    "CHAOS_K8S_CONTEXT",
    "CHAOS_NAMESPACE",
    "CHAOS_AGENT_SELECTOR",
    "CHAOS_AGENT_PORT",
    "CHAOS_AGENT_SCHEME",
    "CHAOS_ALLOWED_NAMESPACES",
)


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., KubeCluster]]:
    """``make_cluster(server_url, timeout_s=..., **settings)``: the official client configured
    with ``kubernetes.client.Configuration(host=...)``, as tests are told to."""
    from kubernetes import client

    made: list[KubeCluster] = []

    def make(url: str, *, timeout_s: float = 2.0, **settings) -> KubeCluster:
        api_client = api_client_for(client.Configuration(host=url))
        cluster = connect(KubeSettings(api_client=api_client, timeout_s=timeout_s, **settings))
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.api_client.close()


@pytest.fixture
def cluster(apiserver: FakeApiServer, make_cluster) -> KubeCluster:
    return make_cluster(apiserver.url)


@pytest.fixture
def kube_env(apiserver: FakeApiServer, tmp_path: Path, monkeypatch) -> Path:
    """$KUBECONFIG names a kubeconfig for the fake server: faults connect through it, as they
    do in a real run (they build their connection from the environment)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "recorded", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": "recorded", "context": {"cluster": "recorded", "user": "tester"}}],
        "current-context": "recorded",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))  # JSON is YAML: the client reads it as a kubeconfig
    for name in KUBE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv("CHAOS_K8S_TIMEOUT", "2")
    return path
