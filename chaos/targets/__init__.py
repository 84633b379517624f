"""Target backends behind one Protocol (local lab processes today)."""

from __future__ import annotations

from chaos.spec.models import TargetKind
from chaos.targets.base import Scope, Target, TargetBackend

__all__ = ["Scope", "Target", "TargetBackend", "default_backends"]


def default_backends() -> dict[TargetKind, TargetBackend]:
    """The backend used for each target kind, chosen explicitly (no discovery)."""
    from chaos.targets.local import LocalProcessBackend

    return {TargetKind.PROCESS: LocalProcessBackend()}
