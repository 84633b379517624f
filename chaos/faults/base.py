"""What every fault module provides: a params model, ``apply`` and ``revert``.

``apply`` returns an :class:`Undo` — exactly what ``revert`` needs, as plain JSON
data so an agent can journal it to disk before touching the host. ``revert`` is
idempotent: reverting twice, or reverting something already gone, is fine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.spec.models import FaultParams, TargetKind
from chaos.targets.base import Target


@dataclass(frozen=True)
class FaultRequest:
    """One fault on one target, as the executor hands it to a fault module."""

    key: str  # step-level key, shared by every target of one step (e.g. "r1a2b3-s0")
    target: Target
    params: FaultParams
    peers: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    ttl_s: float | None = None  # dead-man's switch: the fault must not outlive this


@dataclass(frozen=True)
class Undo:
    """What revert needs. ``data`` is JSON-serialisable (journaled by agents)."""

    fault: str
    data: Mapping[str, Any]
    detail: str = ""  # human-readable summary of what was done, for events and reports


@dataclass(frozen=True)
class FaultType:
    name: str
    summary: str
    params: type[FaultParams]
    apply: Callable[[FaultRequest], Undo]
    revert: Callable[[Undo], None]
    reversible: bool
    target_kinds: frozenset[TargetKind]
