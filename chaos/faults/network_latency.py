"""network-latency: delay the traffic a target sends to its peers.

Backends: ``lab-proxy`` (a latency toxic on the process lab's proxy links);
in a network namespace ``netem`` where the kernel has it, else ``proxy`` (a
transparent delaying TCP proxy behind an iptables REDIRECT). ``backend``
forces one; ``auto`` probes.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from chaos.faults import lab_links
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.models import FaultParams, TargetKind
from chaos.spec.units import Duration

NAME = "network-latency"


class Backend(StrEnum):
    AUTO = "auto"
    NETEM = "netem"
    PROXY = "proxy"


class Params(FaultParams):
    delay: Duration = Field(gt=0, le=60, description="Added delay, e.g. 200ms (max 60s).")
    jitter: Duration = Field(default=0.0, ge=0, le=60, description="Uniform ± jitter.")
    to: tuple[str, ...] = Field(
        default=(), description="Only traffic to these targets (names in spec.targets)."
    )
    backend: Backend = Field(default=Backend.AUTO, description="auto, netem or proxy.")

    @model_validator(mode="after")
    def _jitter_within_delay(self) -> Params:
        if self.jitter > self.delay:
            raise ValueError("jitter must not exceed delay")
        return self

    def target_refs(self) -> dict[str, list[str]]:
        return {"to": list(self.to)}


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    assert isinstance(request.params, Params)
    params = request.params
    toxic = {"type": "latency", "delay_ms": params.delay * 1000, "jitter_ms": params.jitter * 1000}
    return lab_links.prepare_toxic(
        NAME,
        request,
        direction=lab_links.Direction.OUT,
        peers=request.peers.get("to", ()),
        toxic=toxic,
    )


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    return lab_links.apply_toxic(request, undo)


def revert(undo: Undo, host: HostContext) -> None:
    lab_links.revert_toxic(undo)


FAULT = FaultType(
    name=NAME,
    summary="Add latency (± jitter) to the target's outbound traffic.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
    reversible=True,
    target_kinds=frozenset({TargetKind.PROCESS}),
)
