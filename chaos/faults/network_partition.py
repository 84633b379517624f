"""network-partition: cut the target off from its peers (drop or reject).

Backends: ``lab-proxy`` (a partition toxic on the process lab's proxy links), or
``iptables``: a chain of our own in the target's network namespace, jumped to
from INPUT and/or OUTPUT. Loopback and the agent's control port stay open.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from chaos.faults import kernel_net, lab_links
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams

NAME = "network-partition"


class Action(StrEnum):
    DROP = "drop"  # packets vanish: callers hang until their own timeout
    REJECT = "reject"  # connections are refused/reset: callers fail fast


class Params(kernel_net.PeerFilters, FaultParams):
    direction: lab_links.Direction = Field(
        default=lab_links.Direction.BOTH, description="in, out or both."
    )
    peers: tuple[str, ...] = Field(
        default=(), description="Only traffic to/from these targets (default: all)."
    )
    cidrs: tuple[str, ...] = Field(default=(), description="Only traffic to/from these CIDRs.")
    ports: tuple[int, ...] = Field(default=(), description="Only these peer ports (TCP/UDP).")
    action: Action = Action.DROP

    def target_refs(self) -> dict[str, list[str]]:
        return {"peers": list(self.peers)}


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    from chaos.host import iptables

    assert isinstance(request.params, Params)
    params = request.params
    peers = request.peers.get("peers", ())
    if lab_links.is_lab_proxy(request.target):
        return lab_links.prepare_toxic(
            NAME,
            request,
            direction=params.direction,
            peers=peers,
            toxic={"type": "partition", "mode": params.action.value},
        )
    netns = kernel_net.require_netns(NAME, request, host)
    return kernel_net.filter_undo(
        NAME,
        request=request,
        netns=netns,
        host=host,
        peers=peers,
        cidrs=params.cidrs,
        direction=params.direction.value,
        rules_for=lambda cidrs, side: iptables.partition_rules(
            direction=side,
            action=params.action.value,
            cidrs=cidrs,
            ports=params.ports,
        ),
        summary=f"{params.action.value} {params.direction.value}",
    )


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    if undo.backend == "lab-proxy":
        return lab_links.apply_toxic(request, undo)
    return kernel_net.install(undo, host, f"iptables {undo.data['summary']}")


def revert(undo: Undo, host: HostContext) -> None:
    if undo.backend == "lab-proxy":
        lab_links.revert_toxic(undo)
    else:
        kernel_net.uninstall(undo, host)


FAULT = FaultType(
    name=NAME,
    summary="Partition the target from its peers: drop (blackhole) or reject.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
)
