"""Shared pieces of network faults applied with the kernel (iptables, tc) in the
target's network namespace, as a node agent does.

Peers come from other targets of the experiment (their node IPs) and from
explicit CIDRs/ports. Loopback and the agent's own control port are always
exempt, so a "partition everything" can never cut the agent off from the
controller that must revert it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from chaos.errors import FaultError, HostError, RevertError
from chaos.faults.base import FaultRequest, HostContext, Undo
from chaos.targets.base import Target

if TYPE_CHECKING:  # the host modules are imported when a fault runs, not to validate a file
    from chaos.host.iptables import ChainRule
    from chaos.host.run import NetnsRef

log = logging.getLogger(__name__)

ALL_IPV4 = "0.0.0.0/0"


class PeerFilters:
    """Mixin for params: explicit ``cidrs`` and ``ports`` besides peer targets."""

    @field_validator("cidrs", check_fields=False)
    @classmethod
    def _valid_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"invalid CIDR {cidr!r}") from exc
            if network.version != 4:
                raise ValueError(f"only IPv4 is supported, got {cidr!r}")
        return value

    @field_validator("ports", check_fields=False)
    @classmethod
    def _valid_ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for port in value:
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is out of range 1-65535")
        return value


def require_netns(fault: str, request: FaultRequest, host: HostContext) -> NetnsRef:
    """The target's network namespace; kernel network faults need a process target and root."""
    target = request.target
    if target.pid is None:
        raise FaultError(f"{fault} needs a process target", target=target.display, node=host.node)
    if host.capabilities and not host.can("root"):
        raise FaultError(f"{fault} needs root on node {host.node}", node=host.node)
    from chaos.host.run import netns_ref

    try:
        return netns_ref(target.pid)
    except HostError as exc:
        raise FaultError(f"{fault}: {exc.message}", target=target.display, node=host.node) from exc


def peer_cidrs(
    fault: str, peers: Iterable[Target], cidrs: Sequence[str], host: HostContext
) -> list[str]:
    """CIDRs of the peer targets (their node IPs) and the explicit ones."""
    found: list[str] = []
    for peer in peers:
        ip = peer.attributes.get("ip")
        if not ip:
            raise FaultError(
                f"{fault}: unknown peer {peer.display}: its IP address is not known",
                node=host.node,
            )
        found.append(f"{ip}/32")
    found.extend(str(ipaddress.ip_network(c, strict=False)) for c in cidrs)
    return list(dict.fromkeys(found))


def exemptions(host: HostContext) -> list[ChainRule]:
    """RETURN rules first in our chain: loopback and the agent's control port pass."""
    from chaos.host import iptables

    rules = [
        iptables.ChainRule(("-s", "127.0.0.0/8", "-j", "RETURN")),
        iptables.ChainRule(("-d", "127.0.0.0/8", "-j", "RETURN")),
    ]
    for port in host.control_ports:
        rules.append(iptables.ChainRule(("-p", "tcp", "--dport", str(port), "-j", "RETURN")))
        rules.append(iptables.ChainRule(("-p", "tcp", "--sport", str(port), "-j", "RETURN")))
    return rules


def chain_undo(
    fault: str,
    *,
    request: FaultRequest,
    netns: NetnsRef,
    table: str,
    chains: Sequence[tuple[str, Sequence[ChainRule]]],
    extra: dict[str, Any] | None = None,
) -> Undo:
    """Our chains in ``table``, one per (hook, rules), and what the revert may prune.

    Recorded before anything is installed, so a revert from the journal after a crash
    mid-apply still knows whether the table and its hooks were there before us.
    """
    from chaos.host import iptables, nftprune

    hooks = [hook for hook, _ in chains]
    try:
        prunable = nftprune.prunable(table=table, hooks=hooks, netns_pid=netns)
    except HostError as exc:  # pruning is hygiene: never a reason to refuse the fault
        log.warning("%s: cannot see the %s table, will not prune it: %s", fault, table, exc)
        prunable = nftprune.Prunable()
    many = len(chains) > 1
    data = {
        "netns": netns,
        "table": table,
        "chains": [
            {
                "chain": iptables.chain_name(request.fault_id, hook=hook if many else None),
                "hook": hook,
                "rules": [list(rule.spec) for rule in rules],
            }
            for hook, rules in chains
        ],
        "prune": prunable.to_json(),
        **(extra or {}),
    }
    return Undo(fault=fault, data=data, backend="iptables")


def filter_undo(
    fault: str,
    *,
    request: FaultRequest,
    netns: NetnsRef,
    host: HostContext,
    peers: Sequence[Target],
    cidrs: Sequence[str],
    direction: str,
    rules_for: Callable[[list[str], str], list[ChainRule]],
    summary: str,
    extra: dict[str, Any] | None = None,
) -> Undo:
    """Filter-table chains (partition, loss), one per hook of ``direction``: our
    exemptions first, then the fault's rules for that hook's side of the traffic to the
    peers' addresses and ``cidrs`` (everything when neither is given)."""
    from chaos.host import iptables

    targets = peer_cidrs(fault, peers, cidrs, host) or [ALL_IPV4]
    return chain_undo(
        fault,
        request=request,
        netns=netns,
        table="filter",
        chains=[
            (hook, exemptions(host) + rules_for(targets, side.value))
            for hook, side in iptables.sides(direction)
        ],
        extra={**(extra or {}), "summary": f"{summary} {', '.join(targets)}"},
    )


def chain_entries(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(chain, hooks, rules) of each chain in an undo; also the one-chain form that
    journals written by earlier versions hold."""
    if "chains" in data:
        return [(c["chain"], [c["hook"]], c["rules"]) for c in data["chains"]]
    return [(data["chain"], list(data["hooks"]), data["rules"])]


def install(undo: Undo, host: HostContext, detail: str) -> Undo:
    from chaos.host import iptables

    data = undo.data
    try:
        for chain, hooks, rules in chain_entries(data):
            iptables.install_chain(
                chain=chain,
                table=data["table"],
                hooks=hooks,
                rules=[iptables.ChainRule(tuple(spec)) for spec in rules],
                netns_pid=data["netns"],
            )
    except HostError as exc:
        raise FaultError(f"{undo.fault}: {exc.message}", node=host.node) from exc
    return Undo(fault=undo.fault, data=data, detail=detail, backend=undo.backend)


def uninstall(undo: Undo, host: HostContext) -> None:
    """Remove our chains, then the table and hooks iptables made for them (if empty)."""
    from chaos.host import iptables, nftprune

    data = undo.data
    if gone(data["netns"]):
        return  # the namespace died with its last process, and our rules with it
    try:
        for chain, hooks, _ in chain_entries(data):
            iptables.remove_chain(
                chain=chain, table=data["table"], hooks=hooks, netns_pid=data["netns"]
            )
    except HostError as exc:
        raise RevertError(f"{undo.fault}: {exc.message}", node=host.node) from exc
    try:
        nftprune.prune(
            table=data["table"],
            what=nftprune.Prunable.from_json(data.get("prune")),
            netns_pid=data["netns"],
        )
    except HostError as exc:  # our rules are gone; an empty table left is not a stuck fault
        log.warning("%s: could not delete the empty %s table: %s", undo.fault, data["table"], exc)


def gone(netns: NetnsRef) -> bool:
    """Whether a namespace referenced by PID no longer exists (paths are checked by nsenter)."""
    if isinstance(netns, int):
        try:
            with open(f"/proc/{netns}/ns/net", "rb"):
                return False
        except OSError:
            return True
    return False


def default_dev(fault: str, netns: NetnsRef, host: HostContext) -> str:
    from chaos.host import tc

    try:
        return tc.default_route_dev(netns)
    except HostError as exc:
        raise FaultError(f"{fault}: {exc.message}", node=host.node) from exc


def remove_qdisc(undo: Undo, host: HostContext) -> None:
    """Delete our root qdisc (handle c4a0:) on the device, and nothing else."""
    from chaos.host import tc

    data = undo.data
    if gone(data["netns"]):
        return
    try:
        tc.remove_ours(dev=data["dev"], netns_pid=data["netns"])
    except HostError as exc:
        raise RevertError(f"{undo.fault}: {exc.message}", node=host.node) from exc


def wants_netem(fault: str, backend: str, host: HostContext, *, per_peer: bool) -> bool:
    """netem when forced, or on auto when the kernel has it and the fault is not per peer
    (our netem qdisc covers all egress of the device; per-peer falls back)."""
    if backend == "netem":
        if per_peer:
            raise FaultError(
                f"{fault}: the netem backend acts on all egress traffic of the device; "
                "drop the peer filters or use another backend",
                node=host.node,
            )
        if host.capabilities and not host.can("netem"):
            raise FaultError(f"{fault}: netem is not available on node {host.node}", node=host.node)
        return True
    return backend == "auto" and host.can("netem") and not per_peer
