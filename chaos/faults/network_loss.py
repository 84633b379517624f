"""network-loss: drop a share of the target's packets.

Backends: ``netem`` (``loss``, all egress of the device) where the kernel has
it, else ``iptables``: ``statistic --mode random`` DROP in a chain of our own,
per peer and per direction.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from chaos.errors import FaultError, HostError
from chaos.faults import kernel_net, lab_links
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams

NAME = "network-loss"


class Backend(StrEnum):
    AUTO = "auto"
    NETEM = "netem"
    IPTABLES = "iptables"


class Params(kernel_net.PeerFilters, FaultParams):
    percent: float = Field(gt=0, le=100, description="Share of packets dropped, in percent.")
    direction: lab_links.Direction = Field(
        default=lab_links.Direction.OUT, description="in, out or both (netem: out only)."
    )
    peers: tuple[str, ...] = Field(default=(), description="Only traffic to/from these targets.")
    cidrs: tuple[str, ...] = Field(default=(), description="Only traffic to/from these CIDRs.")
    ports: tuple[int, ...] = Field(default=(), description="Only these peer ports (TCP/UDP).")
    backend: Backend = Field(default=Backend.AUTO, description="auto, netem or iptables.")

    def target_refs(self) -> dict[str, list[str]]:
        return {"peers": list(self.peers)}


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    from chaos.host import iptables

    assert isinstance(request.params, Params)
    params = request.params
    if lab_links.is_lab_proxy(request.target):
        raise FaultError(
            f"{NAME} needs a node agent: the process lab's proxy cannot drop "
            "packets (use --isolation netns)",
            target=request.target.display,
        )
    netns = kernel_net.require_netns(NAME, request, host)
    peers = request.peers.get("peers", ())
    per_peer = bool(peers or params.cidrs or params.ports)
    if params.backend is not Backend.IPTABLES and params.direction is lab_links.Direction.OUT:
        if kernel_net.wants_netem(NAME, params.backend.value, host, per_peer=per_peer):
            dev = kernel_net.default_dev(NAME, netns, host)
            data = {"netns": netns, "dev": dev, "percent": params.percent}
            return Undo(fault=NAME, data=data, backend="netem")
    elif params.backend is Backend.NETEM:
        raise FaultError(f"{NAME}: netem drops egress only; use direction: out", node=host.node)
    return kernel_net.filter_undo(
        NAME,
        request=request,
        netns=netns,
        host=host,
        peers=peers,
        cidrs=params.cidrs,
        direction=params.direction.value,
        rules_for=lambda cidrs, side: iptables.loss_rules(
            probability=params.percent / 100,
            direction=side,
            cidrs=cidrs,
            ports=params.ports,
        ),
        summary=params.direction.value,
        extra={"percent": params.percent},
    )


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    data = undo.data
    if undo.backend == "netem":
        from chaos.host import tc

        try:
            tc.add_netem(dev=data["dev"], loss_percent=data["percent"], netns_pid=data["netns"])
        except HostError as exc:
            raise FaultError(f"{NAME}: {exc.message}", node=host.node) from exc
        return Undo(NAME, data, f"netem loss {data['percent']:g}% on {data['dev']}", "netem")
    detail = f"iptables statistic drop {data['percent']:g}% {data['summary']}"
    return kernel_net.install(undo, host, detail)


def revert(undo: Undo, host: HostContext) -> None:
    if undo.backend == "netem":
        kernel_net.remove_qdisc(undo, host)
    else:
        kernel_net.uninstall(undo, host)


FAULT = FaultType(
    name=NAME,
    summary="Drop a percentage of the target's packets.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
)
