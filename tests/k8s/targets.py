"""Targets as the Kubernetes backends build them, for tests that start from a target."""

from __future__ import annotations

from chaos.spec.models import TargetKind
from chaos.targets.base import Target


def node_target(name: str, uid: str) -> Target:
    return Target(
        kind=TargetKind.NODE,
        uid=f"node/{name}/{uid}",
        display=f"node {name}",
        node=name,
        attributes={"node": name},
    )
