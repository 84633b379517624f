"""network-latency: delay the traffic a target sends to its peers.

Backends: ``lab-proxy`` (a latency toxic on the process lab's proxy links);
in a network namespace ``netem`` where the kernel has it (all egress of the
device), else ``proxy``: a transparent delaying TCP proxy in the target's
namespace behind an iptables nat REDIRECT (TCP only, per peer). ``backend``
forces one; ``auto`` probes.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from chaos.errors import FaultError, HostError, RevertError
from chaos.faults import kernel_net, lab_links
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams
from chaos.spec.units import Duration

NAME = "network-latency"
PROXY_MARK = 0xC4A0  # the proxy's own upstream sockets: never redirected again
PROXY_TTL_S = 3600.0  # the proxy's own dead-man's switch; the agent's lease reverts sooner


class Backend(StrEnum):
    AUTO = "auto"
    NETEM = "netem"
    PROXY = "proxy"


class Params(kernel_net.PeerFilters, FaultParams):
    delay: Duration = Field(gt=0, le=60, description="Added delay, e.g. 200ms (max 60s).")
    jitter: Duration = Field(default=0.0, ge=0, le=60, description="Uniform ± jitter.")
    to: tuple[str, ...] = Field(
        default=(), description="Only traffic to these targets (names in spec.targets)."
    )
    cidrs: tuple[str, ...] = Field(default=(), description="Only traffic to these CIDRs.")
    ports: tuple[int, ...] = Field(default=(), description="Only traffic to these ports.")
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
    peers = request.peers.get("to", ())
    delay_ms, jitter_ms = params.delay * 1000, params.jitter * 1000
    if lab_links.is_lab_proxy(request.target):
        toxic = {"type": "latency", "delay_ms": delay_ms, "jitter_ms": jitter_ms}
        return lab_links.prepare_toxic(
            NAME, request, direction=lab_links.Direction.OUT, peers=peers, toxic=toxic
        )
    netns = kernel_net.require_netns(NAME, request, host)
    per_peer = bool(peers or params.cidrs or params.ports)
    timing = {"delay_ms": delay_ms, "jitter_ms": jitter_ms}
    if kernel_net.wants_netem(NAME, params.backend.value, host, per_peer=per_peer):
        dev = kernel_net.default_dev(NAME, netns, host)
        return Undo(fault=NAME, data={"netns": netns, "dev": dev, **timing}, backend="netem")
    cidrs = kernel_net.peer_cidrs(NAME, peers, params.cidrs, host) or [kernel_net.ALL_IPV4]
    # the redirect's target port is the proxy's, known once it listens (see apply); the
    # exemptions go first, so the agent's and controller's own traffic is never delayed
    undo = kernel_net.chain_undo(
        NAME,
        request=request,
        netns=netns,
        table="nat",
        chains=[("OUTPUT", kernel_net.exemptions(host))],
        extra={"fault_id": request.fault_id, "to": cidrs, "ports": list(params.ports), **timing},
    )
    return Undo(fault=NAME, data=undo.data, backend="proxy")


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    if undo.backend == "lab-proxy":
        return lab_links.apply_toxic(request, undo)
    data = undo.data
    delay = f"{data['delay_ms']:g}ms ± {data['jitter_ms']:g}ms"
    try:
        if undo.backend == "netem":
            from chaos.host import tc

            tc.add_netem(
                dev=data["dev"],
                delay_ms=data["delay_ms"],
                jitter_ms=data["jitter_ms"],
                netns_pid=data["netns"],
            )
            return Undo(NAME, data, f"netem delay {delay} on {data['dev']}", undo.backend)
        from chaos.host import iptables, procs

        # port 0: the kernel picks one that is free in the target's namespace when the
        # proxy binds it; the target's own outgoing connections cannot take it first
        _, port = procs.start_delay_proxy(
            fault_id=data["fault_id"],
            netns_pid=data["netns"],
            delay_ms=data["delay_ms"],
            jitter_ms=data["jitter_ms"],
            mark=PROXY_MARK,
            ttl_s=PROXY_TTL_S,
        )
    except HostError as exc:
        raise FaultError(f"{NAME}: {exc.message}", node=host.node) from exc
    redirect = iptables.redirect_rules(
        cidrs=data["to"], ports=data["ports"], to_port=port, skip_mark=PROXY_MARK
    )
    (chain,) = data["chains"]
    chain = {**chain, "rules": [*chain["rules"], *(list(rule.spec) for rule in redirect)]}
    data = {**data, "proxy_port": port, "chains": [chain]}
    detail = f"delay proxy :{data['proxy_port']} {delay} for TCP to {', '.join(data['to'])}"
    return kernel_net.install(Undo(NAME, data, backend=undo.backend), host, detail)


def revert(undo: Undo, host: HostContext) -> None:
    if undo.backend == "lab-proxy":
        lab_links.revert_toxic(undo)
    elif undo.backend == "netem":
        kernel_net.remove_qdisc(undo, host)
    else:
        # redirect first, then the proxy: no connection is sent to a proxy that is gone
        kernel_net.uninstall(undo, host)
        from chaos.host import procs

        try:
            procs.stop_tagged(undo.data["fault_id"])
        except HostError as exc:
            raise RevertError(f"{NAME}: {exc.message}", node=host.node) from exc


FAULT = FaultType(
    name=NAME,
    summary="Add latency (± jitter) to the target's outbound traffic.",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
)
