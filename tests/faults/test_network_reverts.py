"""Kernel network faults revert exactly: ``iptables-save`` and ``nft list ruleset`` of the
target's namespace after apply + revert equal what they were before (no empty table, no
registered nat hook), and a ``direction: both`` fault writes each rule once. Real faults
(prepare/apply/revert as the agent runs them) in a private namespace pair."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext
from chaos.host import iptables as ipt
from chaos.host.run import in_netns, run
from chaos.spec.models import TargetKind
from chaos.targets.base import Target
from tests.host.conftest import fault_id, netns  # noqa: F401 (fixtures)
from tests.host.netlab import NetPair, in_namespace, tcp_outcome

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network faults need root")
HOST = HostContext(node="n1", control_ports=(7070,))


def request(pair: NetPair, fid: str, fault: str, **params) -> FaultRequest:
    target = Target(kind=TargetKind.PROCESS, uid="a", display="a", node="n1", pid=pair.a_pid)
    return FaultRequest(
        fault_id=fid, key=fid, target=target, params=CATALOG[fault].params(**params), ttl_s=30
    )


def rules_of(pair: NetPair) -> list[str]:
    listing = run(in_netns(pair.a_pid, ["iptables-save"])).stdout
    return [line for line in listing.splitlines() if line.startswith("-A ")]


CASES = [
    ("network-partition", {"direction": "both"}),
    ("network-partition", {"direction": "both", "action": "reject", "ports": [7000]}),
    ("network-loss", {"direction": "both", "percent": 50, "backend": "iptables"}),
    ("network-loss", {"direction": "in", "percent": 50, "backend": "iptables"}),
    ("network-latency", {"delay": "50ms", "backend": "auto"}),
]


@pytest.mark.parametrize(("fault", "params"), CASES)
def test_apply_then_revert_restores_the_namespace_exactly_and_writes_each_rule_once(
    netns: NetPair,  # noqa: F811
    fault_id: Callable[[], str],  # noqa: F811
    fault: str,
    params: dict,
) -> None:
    kind = CATALOG[fault]
    before = ipt.exact_state(netns.a_pid)
    wanted = request(netns, fault_id(), fault, **params)
    undo = kind.prepare(wanted, HOST)
    try:
        undo = kind.apply(wanted, undo, HOST)
        written = rules_of(netns)
        assert written, "the fault wrote no rule"
        assert len(written) == len(set(written)), f"a rule written twice: {written}"
    finally:
        kind.revert(undo, HOST)
    assert ipt.exact_state(netns.a_pid) == before
    kind.revert(undo, HOST)  # twice is fine
    assert ipt.exact_state(netns.a_pid) == before


def test_a_both_partition_drops_each_way_once_per_hook(
    netns: NetPair,  # noqa: F811
    fault_id: Callable[[], str],  # noqa: F811
) -> None:
    kind = CATALOG["network-partition"]
    wanted = request(netns, fault_id(), "network-partition", direction="both", cidrs=[netns.b_ip])
    undo = kind.apply(wanted, kind.prepare(wanted, HOST), HOST)
    try:
        drops = [line for line in rules_of(netns) if line.endswith("-j DROP")]
        chain_in = ipt.chain_name(wanted.fault_id, hook="INPUT")
        chain_out = ipt.chain_name(wanted.fault_id, hook="OUTPUT")
        assert drops == [
            f"-A {chain_in} -s {netns.b_ip}/32 -j DROP",
            f"-A {chain_out} -d {netns.b_ip}/32 -j DROP",
        ]
        probe = lambda: tcp_outcome(netns.b_ip, netns.tcp_port)  # noqa: E731
        assert in_namespace(netns.a, probe) == "timeout"
    finally:
        kind.revert(undo, HOST)
    assert in_namespace(netns.a, probe) == "ok"


def test_an_undo_journaled_before_one_chain_per_hook_still_reverts(
    netns: NetPair,  # noqa: F811
) -> None:
    """An agent upgraded with faults in its journal reverts them from the old form."""
    from chaos.faults import kernel_net
    from chaos.faults.base import Undo

    before = ipt.ruleset(netns.a_pid)
    chain = ipt.chain_name("old-fault")
    rules = [ipt.ChainRule(("-d", f"{netns.b_ip}/32", "-j", "DROP"))]
    ipt.install_chain(chain=chain, table="filter", hooks=["INPUT", "OUTPUT"], rules=rules,
                      netns_pid=netns.a_pid)  # fmt: skip
    old = {"netns": netns.a_pid, "chain": chain, "table": "filter",
           "hooks": ["INPUT", "OUTPUT"], "rules": [list(r.spec) for r in rules]}  # fmt: skip
    assert kernel_net.chain_entries(old) == [(chain, ["INPUT", "OUTPUT"], old["rules"])]
    CATALOG["network-partition"].revert(Undo("network-partition", old, backend="iptables"), HOST)
    assert ipt.list_our_chains(table="filter", netns_pid=netns.a_pid) == []
    after = ipt.exact_state(netns.a_pid)
    assert "CHAOS-" not in after and "DROP" not in after
    # no pruning record in the old form: the empty table is left rather than guessed at
    assert ipt.ruleset(netns.a_pid) == before
