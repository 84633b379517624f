"""network-partition: cut the target off from its peers (drop or reject)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from chaos.faults import lab_links
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.models import FaultParams, TargetKind

NAME = "network-partition"


class Action(StrEnum):
    DROP = "drop"  # packets vanish: callers hang until their own timeout
    REJECT = "reject"  # connections are refused/reset: callers fail fast


class Params(FaultParams):
    direction: lab_links.Direction = Field(
        default=lab_links.Direction.BOTH, description="in, out or both."
    )
    peers: tuple[str, ...] = Field(
        default=(), description="Only traffic to/from these targets (default: all)."
    )
    action: Action = Action.DROP

    def target_refs(self) -> dict[str, list[str]]:
        return {"peers": list(self.peers)}


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    assert isinstance(request.params, Params)
    return lab_links.prepare_toxic(
        NAME,
        request,
        direction=request.params.direction,
        peers=request.peers.get("peers", ()),
        toxic={"type": "partition", "mode": request.params.action.value},
    )


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    return lab_links.apply_toxic(request, undo)


def revert(undo: Undo, host: HostContext) -> None:
    lab_links.revert_toxic(undo)


FAULT = FaultType(
    name=NAME,
    summary="Partition the target from its peers: drop (blackhole) or reject.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
    reversible=True,
    target_kinds=frozenset({TargetKind.PROCESS}),
)
