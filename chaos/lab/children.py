"""What the lab supervisor runs: service plans, and each child's argv and environment.

Pure functions of the plan (and our own environment), shared by both isolations.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chaos.host.tcpproxy import LOOPBACK

API_REPLICAS = {"fragile": 1, "resilient": 2}
# What marks a process as part of a lab; never inherited from whoever started the lab.
LAB_ENV_KEYS = ("CHAOS_LAB_ID", "CHAOS_LABELS", "CHAOS_LAB_CONTROL", "CHAOS_NODE")
LAB_ENV_KEYS += ("CHAOS_NODE_IP", "CHAOS_AGENT")


@dataclass(frozen=True)
class ServicePlan:
    name: str  # "web", "api-0", "store"
    app: str
    replica: int
    port: int
    upstreams: tuple[str, ...]
    host: str = LOOPBACK
    node: str | None = None  # netns labs: the node (namespace) it runs on

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: a service, or a node's agent (``plan`` None)."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    plan: ServicePlan | None = None


def service_argv(plan: ServicePlan, *, variant: str, data_dir: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", f"chaos.lab.services.{plan.app}", "--port", str(plan.port)]
    if plan.host != LOOPBACK:
        argv += ["--host", plan.host]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    for upstream in plan.upstreams:
        argv += ["--upstream", upstream]
    return [*argv, "--variant", variant]


def clean_env() -> dict[str, str]:
    """Our environment without any lab marker, so no child inherits a wrong identity."""
    return {key: value for key, value in os.environ.items() if key not in LAB_ENV_KEYS}


def service_env(
    plan: ServicePlan, *, lab_id: str, variant: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """The labels live in the service's own environment: the platform selects lab processes
    by reading /proc/<pid>/environ, so a selector can never match a process outside the lab."""
    labels = f"app={plan.app},replica={plan.replica},lab={lab_id},variant={variant}"
    if plan.node is not None:
        labels += f",node={plan.node}"
    return clean_env() | {"CHAOS_LAB_ID": lab_id, "CHAOS_LABELS": labels, **extra}
