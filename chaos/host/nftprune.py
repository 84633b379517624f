"""Leave no empty table or hook behind: what ``iptables-nft`` creates on first use.

With the nf_tables backend, ``iptables -t nat -N CHAOS-...`` creates the ``ip nat``
table and ``-I OUTPUT`` registers its OUTPUT hook; removing our chain leaves both.
An empty nat hook is not harmless (every new flow of the namespace then goes through
NAT processing) and ``nft list ruleset`` no longer matches what was there before.

So, before a fault touches a table, :func:`prunable` records which of the table and
its built-in chains are *ours to remove when empty*: those that do not exist yet,
or that hold nothing but jumps into ``CHAOS-`` chains (another fault of ours created
them). After our chain is gone, :func:`prune` deletes those built-in chains that are
empty (the kernel refuses to delete one that holds a rule), then the table if no
chain is left. Everything else (a table or chain someone else made, even an empty
one) stays. With the legacy backend tables are kernel modules and nothing is left
to prune.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.errors import HostError
from chaos.host.run import NetnsRef, in_netns, run

PREFIX = "CHAOS-"
FAMILY = "ip"


@dataclass(frozen=True)
class Prunable:
    """What a revert may delete once empty: the table, and these built-in chains."""

    table: bool = False
    hooks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "hooks": list(self.hooks)}

    @classmethod
    def from_json(cls, raw: Any) -> Prunable:
        if not isinstance(raw, dict):
            return cls()  # written before pruning existed: delete nothing
        return cls(table=bool(raw.get("table")), hooks=tuple(str(h) for h in raw.get("hooks", ())))


@dataclass(frozen=True)
class _Table:
    base: dict[str, list[dict[str, Any]]]  # built-in chain -> its rules
    base_policy: dict[str, str]
    chains: dict[str, list[dict[str, Any]]]  # every other chain -> its rules
    others: int  # sets, maps, flowtables...: never ours


def uses_nf_tables() -> bool:
    """iptables is the nf_tables variant, and ``nft`` is there to see and prune tables."""
    if shutil.which("nft") is None:
        return False
    try:
        return "nf_tables" in run(["iptables", "-V"], check=False).stdout
    except HostError:
        return False


def prunable(*, table: str, hooks: Sequence[str], netns_pid: NetnsRef) -> Prunable:
    """Which of ``table`` and ``hooks`` a revert may delete when they are empty again."""
    if not uses_nf_tables():
        return Prunable()
    current = _list(table, netns_pid)
    if current is None:
        return Prunable(table=True, hooks=tuple(hooks))
    ours_only = not current.others and all(name.startswith(PREFIX) for name in current.chains)
    ours_hooks = tuple(hook for hook in hooks if _ours_or_absent(current, hook))
    # the table was made by a fault of ours still active: the last revert deletes it
    table_ours = (
        ours_only
        and bool(current.chains)
        and all(_ours_or_absent(current, name) for name in current.base)
    )
    return Prunable(table=table_ours, hooks=ours_hooks)


def prune(*, table: str, what: Prunable, netns_pid: NetnsRef) -> None:
    """Delete what :func:`prunable` allowed, where it is empty now."""
    if not what.table and not what.hooks:
        return
    with tables_lock():
        current = _list(table, netns_pid)
        if current is None:
            return
        for hook in what.hooks:
            empty = hook in current.base and not current.base[hook]
            if empty and current.base_policy.get(hook) == "accept":
                _nft(netns_pid, "delete", "chain", FAMILY, table, hook)
        if not what.table:
            return
        current = _list(table, netns_pid)
        if current is not None and not (current.base or current.chains or current.others):
            _nft(netns_pid, "delete", "table", FAMILY, table)


@contextlib.contextmanager
def tables_lock() -> Iterator[None]:
    """Held around installing a chain and around pruning: deleting a table deletes what
    is in it, so no chain of ours may be created between the check and the delete (the
    agent and a watchdog reverting from the journal may be two processes)."""
    path = os.path.join("/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir(),
                        "chaos-iptables.lock")  # fmt: skip
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ours_or_absent(current: _Table, hook: str) -> bool:
    rules = current.base.get(hook)
    if rules is None:
        return True
    if current.base_policy.get(hook) != "accept" or not rules:
        return False  # somebody else's, even empty: it stays
    return all(_jump_target(rule).startswith(PREFIX) for rule in rules)


def _jump_target(rule: dict[str, Any]) -> str:
    """The chain a rule that only jumps (after an optional counter) jumps to, else ''."""
    exprs = [e for e in rule.get("expr", ()) if "counter" not in e]
    if len(exprs) == 1 and "jump" in exprs[0]:
        return str(exprs[0]["jump"].get("target", ""))
    return ""


def _list(table: str, netns_pid: NetnsRef) -> _Table | None:
    done = run(in_netns(netns_pid, ["nft", "-j", "list", "table", FAMILY, table]), check=False)
    if not done.ok:
        if "No such file or directory" in done.stderr:
            return None
        raise HostError(f"nft list table {FAMILY} {table} failed: {done.stderr.strip()}")
    base: dict[str, list[dict[str, Any]]] = {}
    policy: dict[str, str] = {}
    chains: dict[str, list[dict[str, Any]]] = {}
    others = 0
    items = json.loads(done.stdout).get("nftables", [])
    for item in items:
        if "chain" in item:
            chain = item["chain"]
            if "hook" in chain:
                base[chain["name"]] = []
                policy[chain["name"]] = chain.get("policy", "accept")
            else:
                chains[chain["name"]] = []
        elif not {"metainfo", "table", "rule"} & item.keys():
            others += 1
    for item in items:
        rule = item.get("rule")
        if rule is not None:
            (base if rule["chain"] in base else chains).setdefault(rule["chain"], []).append(rule)
    return _Table(base=base, base_policy=policy, chains=chains, others=others)


def _nft(netns_pid: NetnsRef, *args: str) -> None:
    run(in_netns(netns_pid, ["nft", *args]))
