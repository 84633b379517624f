"""network-latency: delay the responses a target receives from what it calls."""

from __future__ import annotations

from pydantic import Field, model_validator

from chaos.faults import lab_links
from chaos.faults.base import FaultRequest, FaultType, Undo
from chaos.spec.models import FaultParams, TargetKind
from chaos.spec.units import Duration

NAME = "network-latency"


class Params(FaultParams):
    delay: Duration = Field(gt=0, le=60, description="Added delay, e.g. 200ms (max 60s).")
    jitter: Duration = Field(default=0.0, ge=0, le=60, description="Uniform ± jitter.")
    to: tuple[str, ...] = Field(
        default=(), description="Only traffic to these targets (names in spec.targets)."
    )

    @model_validator(mode="after")
    def _jitter_within_delay(self) -> Params:
        if self.jitter > self.delay:
            raise ValueError("jitter must not exceed delay")
        return self

    def target_refs(self) -> dict[str, list[str]]:
        return {"to": list(self.to)}


def apply(request: FaultRequest) -> Undo:
    assert isinstance(request.params, Params)
    url, links = lab_links.select_links(
        NAME, request.target, direction=lab_links.Direction.OUT, peers=request.peers.get("to", ())
    )
    toxic = {
        "type": "latency",
        "delay_ms": request.params.delay * 1000,
        "jitter_ms": request.params.jitter * 1000,
    }
    return lab_links.apply_toxic(NAME, request, links, url, toxic)


FAULT = FaultType(
    name=NAME,
    summary="Add latency (± jitter) to the target's outbound calls.",
    params=Params,
    apply=apply,
    revert=lab_links.revert_toxic,
    reversible=True,
    target_kinds=frozenset({TargetKind.PROCESS}),
)
