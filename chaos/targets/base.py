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
    """Where selection may look. For lab processes: the lab id that must match."""

    lab_id: str = "default"


class TargetBackend(Protocol):
    """Lists candidates for a selector and checks a chosen target still exists."""

    kind: TargetKind

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        """Every target matching ``selector`` inside ``scope`` (mode is applied later)."""
        ...

    def exists(self, target: Target) -> bool:
        """Whether ``target`` (the very same one, not a successor) still exists."""
        ...
