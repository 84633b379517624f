"""The Kubernetes connection shared by the pod and node backends and the cluster faults.

This is the only module that imports the official ``kubernetes`` client, and only
inside functions, so ``chaos --help`` does not pay for it. Every API call goes
through :class:`KubeCluster`, which turns ``ApiException`` and urllib3 errors into
:class:`~chaos.targets.kube_errors.KubeApiError` (a ``TargetError``) naming what
was refused and why; no client exception escapes. The backends live in
:mod:`chaos.targets.kube_backends`, their selection rules in
:mod:`chaos.targets.kube_objects`, fault actions in :mod:`chaos.targets.kube_actions`
(none of which imports the client).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from chaos.errors import TargetError
from chaos.spec.models import TargetKind
from chaos.targets import kube_objects as objects
from chaos.targets.kube_backends import KubernetesNodes, KubernetesPods
from chaos.targets.kube_errors import ApiCall, refused, unreachable
from chaos.targets.kube_settings import KubeSettings

__all__ = [
    "KubeCluster",
    "KubeSettings",
    "KubernetesNodes",
    "KubernetesPods",
    "cluster_backends",
    "connect",
]


def connect(settings: KubeSettings | None = None) -> KubeCluster:
    """A connection from ``settings`` (default: the environment). Nothing is read or sent
    until the first call, so a missing kubeconfig is reported where the cluster is used."""
    return KubeCluster(settings)


def cluster_backends(settings: KubeSettings | None = None) -> dict[TargetKind, Any]:
    """Both Kubernetes backends over one (lazy) connection, for ``default_backends``."""
    cluster = connect(settings)
    return {TargetKind.POD: KubernetesPods(cluster), TargetKind.NODE: KubernetesNodes(cluster)}


def api_client_for(configuration: Any) -> Any:
    """An ``ApiClient`` for a ``kubernetes.client.Configuration``, with our retry policy:
    a refused connection is retried twice, a read that timed out is not (the timeout
    is the user's budget per request, not per attempt)."""
    from kubernetes import client
    from urllib3.util.retry import Retry

    configuration.retries = Retry(
        total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.2
    )
    return client.ApiClient(configuration)


def _load_configuration(settings: KubeSettings) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    source = "the in-cluster service account"
    try:
        if settings.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            source = settings.kubeconfig or os.path.expanduser("~/.kube/config")
            config.load_kube_config(
                config_file=source,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,  # never rewrite the user's kubeconfig
            )
    except (config.ConfigException, OSError, ValueError) as exc:
        raise TargetError(f"no usable Kubernetes configuration in {source}: {exc}") from exc
    return configuration


class KubeCluster:
    """One API connection, opened on first use: typed calls with a timeout each, errors
    translated. Safe to share between threads (the client's pool is)."""

    def __init__(self, settings: KubeSettings | None = None) -> None:
        self._settings = settings
        self._client: Any = None
        self._core: Any = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> KubeSettings:
        with self._lock:
            if self._settings is None:
                self._settings = KubeSettings.from_env()
            return self._settings

    @property
    def api_client(self) -> Any:
        return self._api().api_client

    @property
    def host(self) -> str:
        return self._client.configuration.host if self._client is not None else "(not opened)"

    def _api(self) -> Any:
        from kubernetes import client

        settings = self.settings
        with self._lock:
            if self._core is None:
                self._client = settings.api_client or api_client_for(_load_configuration(settings))
                self._core = client.CoreV1Api(self._client)
            return self._core

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            # a client given in the settings is the giver's to close
            if self._client is not None and self._settings and not self._settings.api_client:
                self._client.close()
            self._client = self._core = None

    @contextlib.contextmanager
    def _calling(self, call: ApiCall, target: str | None = None) -> Iterator[None]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        try:
            yield
        except ApiException as exc:
            if not exc.status:  # the client's own wrapping of a TLS failure
                raise unreachable(self.host, str(exc.reason), target=target) from exc
            raise refused(
                call,
                status=exc.status,
                reason=exc.reason,
                body=exc.body,
                host=self.host,
                target=target,
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable(self.host, self._why(exc), target=target) from exc

    def _why(self, exc: BaseException) -> str:
        import urllib3

        cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
        # NewConnectionError derives from urllib3's TimeoutError: test it first
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return "connection refused" if "refused" in str(cause).lower() else str(cause)
        if isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError):
            return f"no answer within {self.settings.timeout_s:g}s"
        return f"{type(cause).__name__}: {cause}"

    # ------------------------------------------------------------------ pods

    def list_pods(
        self, namespace: str, *, labels: str | None = None, fields: str | None = None
    ) -> list[Any]:
        with self._calling(ApiCall("list", "pods", namespace)):
            kwargs = {"label_selector": labels, "field_selector": fields}
            return (
                self._api()
                .list_namespaced_pod(
                    namespace,
                    **{key: value for key, value in kwargs.items() if value},
                    _request_timeout=self.settings.timeout_s,
                )
                .items
            )

    def list_pods_on_node(self, node: str) -> list[Any]:
        with self._calling(ApiCall("list", "pods"), target=f"node {node}"):
            return (
                self._api()
                .list_pod_for_all_namespaces(
                    field_selector=f"spec.nodeName={node}", _request_timeout=self.settings.timeout_s
                )
                .items
            )

    def read_pod(self, namespace: str, name: str) -> Any:
        display = objects.pod_display(namespace, name)
        with self._calling(ApiCall("get", "pods", namespace, name), target=display):
            return self._api().read_namespaced_pod(
                name, namespace, _request_timeout=self.settings.timeout_s
            )

    def delete_pod(
        self, namespace: str, name: str, *, uid: str, grace_period_seconds: int | None
    ) -> None:
        """Delete exactly this pod: the uid precondition makes the API refuse (409) to
        delete a successor that took the same name."""
        from kubernetes import client

        body = client.V1DeleteOptions(
            grace_period_seconds=grace_period_seconds,
            preconditions=client.V1Preconditions(uid=uid),
        )
        display = objects.pod_display(namespace, name)
        with self._calling(ApiCall("delete", "pods", namespace, name), target=display):
            self._api().delete_namespaced_pod(
                name, namespace, body=body, _request_timeout=self.settings.timeout_s
            )

    def evict_pod(self, namespace: str, name: str, *, grace_period_seconds: int | None) -> None:
        """Ask for an eviction (policy/v1), which PodDisruptionBudgets may refuse (429)."""
        from kubernetes import client

        body = client.V1Eviction(
            api_version="policy/v1",
            kind="Eviction",
            metadata=client.V1ObjectMeta(name=name, namespace=namespace),
            delete_options=client.V1DeleteOptions(grace_period_seconds=grace_period_seconds),
        )
        display = objects.pod_display(namespace, name)
        with self._calling(ApiCall("create", "pods/eviction", namespace, name), target=display):
            self._api().create_namespaced_pod_eviction(
                name, namespace, body, _request_timeout=self.settings.timeout_s
            )

    # ----------------------------------------------------------------- nodes

    def list_nodes(self, *, labels: str | None = None, fields: str | None = None) -> list[Any]:
        with self._calling(ApiCall("list", "nodes")):
            kwargs = {"label_selector": labels, "field_selector": fields}
            return (
                self._api()
                .list_node(
                    **{key: value for key, value in kwargs.items() if value},
                    _request_timeout=self.settings.timeout_s,
                )
                .items
            )

    def read_node(self, name: str) -> Any:
        with self._calling(ApiCall("get", "nodes", name=name), target=f"node {name}"):
            return self._api().read_node(name, _request_timeout=self.settings.timeout_s)

    def set_unschedulable(self, name: str, unschedulable: bool) -> None:
        """Cordon (True) or uncordon (False), as ``kubectl cordon`` does: a patch of
        ``spec.unschedulable``."""
        body = {"spec": {"unschedulable": unschedulable}}
        with self._calling(ApiCall("patch", "nodes", name=name), target=f"node {name}"):
            self._api().patch_node(name, body, _request_timeout=self.settings.timeout_s)
