"""What every fault module provides: a params model, ``prepare``, ``apply`` and ``revert``.

- ``prepare(request, host)`` decides everything ``revert`` will need (chain names,
  file paths, process tags, the backend) and touches nothing. Its :class:`Undo`
  is written to the agent's journal (fsync) *before* the host is changed, so a
  crash at any later point can still be undone.
- ``apply(request, undo, host)`` changes the host and returns the final Undo
  (the same data, plus a human-readable ``detail``).
- ``revert(undo, host)`` is idempotent and copes with a half-done apply:
  removing what is already gone is fine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chaos.spec.base import FaultParams
from chaos.spec.models import TargetKind
from chaos.targets.base import Target


@dataclass(frozen=True)
class FaultRequest:
    """One fault on one target, as an executor hands it to a fault module."""

    fault_id: str  # unique per fault and target: names chains and files, tags processes
    key: str  # shared by every target of one step (e.g. "chaos-1a2b3c-s0")
    target: Target
    params: FaultParams
    peers: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    ttl_s: float | None = None  # dead-man's switch: the fault must not outlive this


@dataclass(frozen=True)
class HostContext:
    """Where a fault runs: the node and what its kernel can do (probed at agent start)."""

    node: str = "local"
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    control_ports: tuple[int, ...] = ()  # the agent's own API: never partitioned or delayed
    # RAM-backed directories (as this process sees them) an operator marked as fillable
    # disks, e.g. the netns lab's node disks (``--scope-ram-disk``)
    ram_disks: tuple[str, ...] = ()

    def can(self, capability: str) -> bool:
        return bool(self.capabilities.get(capability))


@dataclass(frozen=True)
class Undo:
    """What revert needs. ``data`` is JSON-serialisable (journaled by agents)."""

    fault: str
    data: Mapping[str, Any]
    detail: str = ""  # what was done, for events and reports
    backend: str = ""  # the mechanism used (e.g. "netem", "iptables", "lab-proxy")

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "data": dict(self.data),
            "detail": self.detail,
            "backend": self.backend,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Undo:
        return cls(
            fault=str(raw["fault"]),
            data=dict(raw.get("data") or {}),
            detail=str(raw.get("detail", "")),
            backend=str(raw.get("backend", "")),
        )


Prepare = Callable[[FaultRequest, HostContext], Undo]
Apply = Callable[[FaultRequest, Undo, HostContext], Undo]
Revert = Callable[[Undo, HostContext], None]


class Signal(StrEnum):
    """Signals a kill fault may send (written without SIG)."""

    KILL = "KILL"
    TERM = "TERM"
    INT = "INT"
    HUP = "HUP"
    QUIT = "QUIT"
    USR1 = "USR1"
    USR2 = "USR2"


class Where(StrEnum):
    """Where a fault acts, which decides who applies it and what protects it.

    - ``NODE``: in the target's namespaces and cgroups, by the agent on its node (the
      controller itself for the process lab). Lease and journal.
    - ``RUNTIME``: through the container runtime's API of the target's host (Docker):
      by the host's agent when it has one, so a lease and the journal protect it,
      else by the controller.
    - ``CONTROLLER``: through the cluster's API (Kubernetes), from the controller.
    """

    NODE = "node"
    RUNTIME = "runtime"
    CONTROLLER = "controller"


@dataclass(frozen=True)
class FaultType:
    name: str
    summary: str
    params: type[FaultParams]
    prepare: Prepare
    apply: Apply
    revert: Revert
    reversible: bool = True  # an irreversible fault (a kill) says so explicitly
    # node faults act on a PID's namespaces and cgroups: a container's or pod's PID is
    # resolved by the agent on its node (chaos.faults.pinning)
    target_kinds: frozenset[TargetKind] = frozenset(
        {TargetKind.PROCESS, TargetKind.CONTAINER, TargetKind.POD}
    )
    where: Where = Where.NODE


def nothing_to_revert(undo: Undo, host: HostContext) -> None:
    """Revert of an irreversible fault: there is nothing to take back, on purpose."""
