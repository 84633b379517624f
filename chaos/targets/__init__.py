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
    if experiment is None:
        return backends
    kinds = {target.kind for target in experiment.spec.targets.values()}
    if TargetKind.CONTAINER in kinds:
        from chaos.targets.docker import DockerBackend

        backends[TargetKind.CONTAINER] = DockerBackend(experiment.spec.docker.hosts)
    if kinds & {TargetKind.POD, TargetKind.NODE}:
        from chaos.targets.kubernetes import cluster_backends

        backends.update(cluster_backends())
    return backends
