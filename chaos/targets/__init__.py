"""Target backends behind one Protocol: lab processes, Docker containers, Kubernetes pods
and nodes. Each backend connects on first use, so building them costs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaos.spec.models import TargetKind
from chaos.targets.base import Scope, Target, TargetBackend

if TYPE_CHECKING:
    from chaos.spec.models import Experiment

__all__ = ["Scope", "Target", "TargetBackend", "default_backends"]


def default_backends(experiment: Experiment | None = None) -> dict[TargetKind, TargetBackend]:
    """The backend for each target kind the experiment uses, chosen explicitly (no
    discovery). Without an experiment: the lab's processes only."""
    from chaos.targets.local import LocalProcessBackend

    backends: dict[TargetKind, TargetBackend] = {TargetKind.PROCESS: LocalProcessBackend()}
    return backends
