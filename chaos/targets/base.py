"""The target model and the one Protocol every target backend implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from chaos.spec.models import Selector, TargetKind


@dataclass(frozen=True)
class Target:
    """One concrete thing a fault acts on, as resolved at run time.

    ``uid`` is stable for the life of the target (for a process: ``pid@start-time``),
    so acting on a target that died and whose PID was reused is refused.
    """

    kind: TargetKind
    uid: str
    display: str
    node: str
    labels: Mapping[str, str] = field(default_factory=dict)
    pid: int | None = None
    start_time: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def app(self) -> str:
        return self.labels.get("app", self.display)


@dataclass(frozen=True)
class Scope:
    """Where selection may look, set by whoever runs the controller (not by experiments).

    ``lab_id``: the lab whose processes may be targeted. ``allowed_namespaces``: the
    Kubernetes namespaces pods may be targeted in (None: no allowlist; the Helm chart
    sets it with the same list as its RBAC). ``platform_namespace``: the platform's
    own namespace, protected like kube-system.
    """

    lab_id: str = "default"
    allowed_namespaces: frozenset[str] | None = None
    platform_namespace: str = "chaos"


class TargetBackend(Protocol):
    """Lists candidates for a selector and checks a chosen target still exists."""

    kind: TargetKind

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        """Every target matching ``selector`` inside ``scope`` (mode is applied later)."""
        ...

    def exists(self, target: Target) -> bool:
        """Whether ``target`` (the very same one, not a successor) still exists."""
        ...
