"""How the controller reaches a Kubernetes cluster, read once from the environment.

The controller runs either inside the cluster (the Helm chart's Deployment: its
service account, found through ``KUBERNETES_SERVICE_HOST``) or on a workstation
or CI runner (a kubeconfig). Everything else names the platform's own pieces in
the cluster: the namespace it is installed in and how its agent DaemonSet's pods
are labelled, so a pod target can be paired with the agent on its node.

This module does not import the Kubernetes client (``chaos.targets.kubernetes``
does, lazily), so reading settings costs nothing at CLI start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos.errors import TargetError

DEFAULT_NAMESPACE = "chaos"
DEFAULT_AGENT_SELECTOR = "app.kubernetes.io/name=chaos-agent"
DEFAULT_AGENT_PORT = 7070
DEFAULT_AGENT_SCHEME = "https"
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class KubeSettings:
    """Connection and discovery settings.

    ``kubeconfig`` None means: the in-cluster service account when
    ``KUBERNETES_SERVICE_HOST`` is set, else ``~/.kube/config``. ``api_client``
    (a ``kubernetes.client.ApiClient``) replaces all of that; tests use it to
    point the official client at a recorded API server.
    """

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    namespace: str = DEFAULT_NAMESPACE  # the platform's own namespace (agents live there)
    agent_selector: str = DEFAULT_AGENT_SELECTOR
    agent_port: int = DEFAULT_AGENT_PORT
    agent_scheme: str = DEFAULT_AGENT_SCHEME
    # None: no controller-level allowlist (the variable is unset); empty: nothing allowed
    allowed_namespaces: tuple[str, ...] | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    api_client: Any = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> KubeSettings:
        """Settings from ``KUBECONFIG``, ``CHAOS_K8S_CONTEXT``, ``CHAOS_NAMESPACE``,
        ``CHAOS_AGENT_SELECTOR``, ``CHAOS_AGENT_PORT``, ``CHAOS_AGENT_SCHEME``,
        ``CHAOS_ALLOWED_NAMESPACES`` and ``CHAOS_K8S_TIMEOUT``."""
        env = os.environ if environ is None else environ
        kubeconfig = env.get("KUBECONFIG") or None
        scheme = env.get("CHAOS_AGENT_SCHEME") or DEFAULT_AGENT_SCHEME
        if scheme not in {"http", "https"}:
            raise TargetError(f"CHAOS_AGENT_SCHEME must be http or https, not {scheme!r}")
        allowed = env.get("CHAOS_ALLOWED_NAMESPACES")
        values: dict[str, Any] = {
            "kubeconfig": kubeconfig,
            "context": env.get("CHAOS_K8S_CONTEXT") or None,
            "in_cluster": kubeconfig is None and bool(env.get("KUBERNETES_SERVICE_HOST")),
            "namespace": env.get("CHAOS_NAMESPACE") or DEFAULT_NAMESPACE,
            "agent_selector": env.get("CHAOS_AGENT_SELECTOR") or DEFAULT_AGENT_SELECTOR,
            "agent_port": _number(env, "CHAOS_AGENT_PORT", DEFAULT_AGENT_PORT, int),
            "agent_scheme": scheme,
            "allowed_namespaces": None
            if allowed is None
            else tuple(n.strip() for n in allowed.split(",") if n.strip()),
            "timeout_s": _number(env, "CHAOS_K8S_TIMEOUT", DEFAULT_TIMEOUT_S, float),
        }
        values.update(overrides)
        return cls(**values)

    def agent_url(self, ip: str) -> str:
        host = f"[{ip}]" if ":" in ip else ip  # an IPv6 pod IP
        return f"{self.agent_scheme}://{host}:{self.agent_port}"


def _number(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    text = env.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise TargetError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise TargetError(f"{name} must be positive, not {text!r}")
    return value
