"""A fault's iptables rules: one chain of our own per fault, one jump into it per hook.

Why a chain per fault: removing a fault is then "unhook, flush and delete *our* chain",
which can never touch a rule somebody else wrote; and listing ``CHAOS-*`` chains tells
the agent after a crash exactly what it left behind. Built-in chains are only ever
given (or lose) a single ``-j CHAOS-...`` rule; we never flush them or a table.

Rule builders are pure (tests compare their argv); the runners take ``netns_pid`` and
enter that process's network namespace (None: the agent's own).

Peers are CIDRs (a bare IP means /32) and optional ports. A port belongs to the peer:
outgoing rules match ``--dport`` (traffic to the peer's service), incoming rules match
``--sport`` (traffic coming back from it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from chaos.host.nftprune import tables_lock
from chaos.host.run import NetnsRef, in_netns, run

PREFIX = "CHAOS-"
MAX_CHAIN_LEN = 28  # XT_EXTENSION_MAXNAMELEN - 1
PROTOCOLS = ("tcp", "udp")
_COUNTERS = re.compile(r"\[\d+:\d+\]")
_NFT_COUNTERS = re.compile(r"counter packets \d+ bytes \d+")


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


class Action(StrEnum):
    DROP = "drop"
    REJECT = "reject"


@dataclass(frozen=True)
class ChainRule:
    """One rule of our chain: the match and target arguments that follow ``-A <chain>``."""

    spec: tuple[str, ...]


def chain_name(fault_id: str, *, prefix: str = PREFIX, hook: str | None = None) -> str:
    """``CHAOS-<20 hex chars of sha256(fault_id)>``: stable, unique, within iptables' 28.

    With ``hook``, the chain one hook of a fault jumps to: ``-I`` for INPUT, ``-O`` for
    OUTPUT (a fault on both directions has one chain per direction).
    """
    name = prefix + hashlib.sha256(fault_id.encode()).hexdigest()[:20]
    if hook is not None:
        name += "-" + hook[0]
    if len(name) > MAX_CHAIN_LEN:
        raise ValueError(f"chain name {name!r} is longer than {MAX_CHAIN_LEN} characters")
    return name


def hooks_for(direction: Direction | str) -> tuple[str, ...]:
    """The filter built-in chains that must jump to our chain for ``direction``."""
    return {
        Direction.IN: ("INPUT",),
        Direction.OUT: ("OUTPUT",),
        Direction.BOTH: ("INPUT", "OUTPUT"),
    }[Direction(direction)]


def sides(direction: Direction | str) -> tuple[tuple[str, Direction], ...]:
    """Each filter hook of ``direction`` with the one side of traffic it sees: INPUT
    matches the peer as the source, OUTPUT as the destination. A chain per hook, so a
    ``both`` fault never tests an incoming packet's destination against the peer (and
    never writes the same rule twice when the peer is everything)."""
    return tuple(
        (hook, Direction.IN if hook == "INPUT" else Direction.OUT) for hook in hooks_for(direction)
    )


def _cidr(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=False))


def _matches(
    *, direction: Direction, cidrs: Sequence[str], ports: Sequence[int]
) -> list[tuple[str, ...]]:
    """Match arguments for every (side, peer, protocol, port) combination."""
    if not cidrs and not ports:
        raise ValueError("a network fault needs at least one peer CIDR or port")
    sides = {
        Direction.IN: (("-s", "--sport"),),
        Direction.OUT: (("-d", "--dport"),),
        Direction.BOTH: (("-s", "--sport"), ("-d", "--dport")),
    }[direction]
    matches: list[tuple[str, ...]] = []
    for addr_flag, port_flag in sides:
        peers = [(addr_flag, _cidr(c)) for c in cidrs] or [()]
        for peer in peers:
            if not ports:
                matches.append(peer)
                continue
            for proto in PROTOCOLS:
                for port in ports:
                    if not 0 < int(port) < 65536:
                        raise ValueError(f"port {port} is out of range")
                    matches.append((*peer, "-p", proto, port_flag, str(int(port))))
    return matches


def partition_rules(
    *,
    direction: Direction | str,
    action: Action | str,
    cidrs: Sequence[str],
    ports: Sequence[int] = (),
) -> list[ChainRule]:
    """DROP (connections time out) or REJECT (connections are refused) traffic to peers."""
    target = {Action.DROP: ("-j", "DROP"), Action.REJECT: ("-j", "REJECT")}[Action(action)]
    matches = _matches(direction=Direction(direction), cidrs=cidrs, ports=ports)
    return [ChainRule((*match, *target)) for match in matches]


def loss_rules(
    *,
    probability: float,
    direction: Direction | str,
    cidrs: Sequence[str],
    ports: Sequence[int] = (),
) -> list[ChainRule]:
    """Drop each matching packet independently with ``probability`` (netem-less loss)."""
    if not 0 < probability <= 1:
        raise ValueError(f"loss probability must be in (0, 1], got {probability}")
    stat = ("-m", "statistic", "--mode", "random", "--probability", f"{probability:.6g}")
    matches = _matches(direction=Direction(direction), cidrs=cidrs, ports=ports)
    return [ChainRule((*match, *stat, "-j", "DROP")) for match in matches]


def redirect_rules(
    *, cidrs: Sequence[str], ports: Sequence[int], to_port: int, skip_mark: int
) -> list[ChainRule]:
    """nat OUTPUT rules sending TCP to peers into the local delay proxy on ``to_port``.

    Sockets carrying ``skip_mark`` (the proxy's own upstream connections) are left
    alone, otherwise the proxy would redirect into itself forever.
    """
    if not cidrs and not ports:
        raise ValueError("a redirect needs at least one peer CIDR or port")
    tail = ("-m", "mark", "!", "--mark", str(skip_mark), "-j", "REDIRECT")
    tail = (*tail, "--to-ports", str(to_port))
    peers = [("-d", _cidr(c)) for c in cidrs] or [()]
    port_args = [("--dport", str(int(p))) for p in ports] or [()]
    return [ChainRule(("-p", "tcp", *peer, *port, *tail)) for peer in peers for port in port_args]


def iptables_argv(*, table: str, args: Sequence[str]) -> list[str]:
    """``iptables -w -t <table> ...``: -w waits for the xtables lock instead of failing."""
    return ["iptables", "-w", "-t", table, *args]


def install_argvs(
    *,
    chain: str,
    table: str,
    hooks: Sequence[str],
    rules: Sequence[ChainRule],
    chain_exists: bool,
    hooked: Sequence[str],
) -> list[list[str]]:
    """Commands that make the live state equal the wanted state, given what exists now.

    Our chain is flushed and refilled (so installing twice equals installing once);
    a jump is inserted at the top of a hook only where it is not already present.
    """
    argvs: list[list[str]] = []
    if not chain_exists:
        argvs.append(iptables_argv(table=table, args=["-N", chain]))
    argvs.append(iptables_argv(table=table, args=["-F", chain]))
    argvs += [iptables_argv(table=table, args=["-A", chain, *rule.spec]) for rule in rules]
    for hook in hooks:
        if hook not in hooked:
            argvs.append(iptables_argv(table=table, args=["-I", hook, "1", "-j", chain]))
    return argvs


def _chains(*, table: str, netns_pid: NetnsRef) -> list[str]:
    listing = run(in_netns(netns_pid, iptables_argv(table=table, args=["-S"]))).stdout
    return [line.split()[1] for line in listing.splitlines() if line.startswith("-N ")]


def _jump_present(*, chain: str, table: str, hook: str, netns_pid: NetnsRef) -> bool:
    check = iptables_argv(table=table, args=["-C", hook, "-j", chain])
    return run(in_netns(netns_pid, check), check=False).ok


def install_chain(
    *,
    chain: str,
    table: str,
    hooks: Sequence[str],
    rules: Sequence[ChainRule],
    netns_pid: NetnsRef,
) -> None:
    """Create (or refill) our chain with ``rules`` and hook it into each built-in chain."""
    if not chain.startswith(PREFIX) or len(chain) > MAX_CHAIN_LEN:
        raise ValueError(f"refusing to manage chain {chain!r}: not one of ours")
    with tables_lock():  # a revert pruning an empty table must not delete this chain
        exists = chain in _chains(table=table, netns_pid=netns_pid)
        hooked = [
            hook
            for hook in hooks
            if exists and _jump_present(chain=chain, table=table, hook=hook, netns_pid=netns_pid)
        ]
        plan = install_argvs(
            chain=chain, table=table, hooks=hooks, rules=rules, chain_exists=exists, hooked=hooked
        )
        for argv in plan:
            run(in_netns(netns_pid, argv))


def remove_chain(*, chain: str, table: str, hooks: Sequence[str], netns_pid: NetnsRef) -> bool:
    """Unhook, flush and delete our chain; returns False when it was already gone."""
    if not chain.startswith(PREFIX):
        raise ValueError(f"refusing to remove chain {chain!r}: not one of ours")
    if chain not in _chains(table=table, netns_pid=netns_pid):
        return False  # a jump to a missing chain cannot exist, so nothing is left
    for hook in hooks:
        # "while present": a crashed earlier install may have inserted the jump twice
        while _jump_present(chain=chain, table=table, hook=hook, netns_pid=netns_pid):
            unhook = iptables_argv(table=table, args=["-D", hook, "-j", chain])
            run(in_netns(netns_pid, unhook))
    run(in_netns(netns_pid, iptables_argv(table=table, args=["-F", chain])))
    run(in_netns(netns_pid, iptables_argv(table=table, args=["-X", chain])))
    return True


def list_our_chains(*, table: str, netns_pid: NetnsRef, prefix: str = PREFIX) -> list[str]:
    """Our chains present in ``table``: what a restarted agent must reconcile."""
    return [name for name in _chains(table=table, netns_pid=netns_pid) if name.startswith(prefix)]


def normalize_ruleset(saved: str) -> str:
    """``iptables-save`` text made comparable across time.

    Comments (timestamps) and packet counters go; so does a table with no rules and
    only ACCEPT built-in chains, which the nf_tables backend leaves behind once any
    command touched it and which filters nothing — the same as no table at all.
    """
    tables: list[list[str]] = []
    for line in saved.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("*") or not tables:
            tables.append([])
        tables[-1].append(_COUNTERS.sub("[0:0]", line))
    kept = [t for t in tables if any(not _is_empty_line(line) for line in t)]
    return "".join(line + "\n" for table in kept for line in table)


def _is_empty_line(line: str) -> bool:
    return line.startswith(("*", "COMMIT")) or (line.startswith(":") and " ACCEPT " in line)


def exact_state(netns_pid: NetnsRef) -> str:
    """``iptables-save`` and ``nft list ruleset`` of the namespace, only comments and
    counters removed: an empty table or hook left behind shows here (unlike
    :func:`ruleset`), so a revert can be checked to restore exactly what was there."""
    saved = run(in_netns(netns_pid, ["iptables-save"])).stdout
    lines = [_COUNTERS.sub("[0:0]", line) for line in saved.splitlines() if line.strip()]
    nft = run(in_netns(netns_pid, ["nft", "list", "ruleset"])).stdout
    nft = _NFT_COUNTERS.sub("counter", nft)
    return "".join(line + "\n" for line in lines if not line.startswith("#")) + nft


def ruleset(netns_pid: NetnsRef) -> str:
    """The whole normalized IPv4 ruleset of the namespace, for before/after comparisons."""
    return normalize_ruleset(run(in_netns(netns_pid, ["iptables-save"])).stdout)
