"""chaos.host.tc: our root qdisc (handle c4a0:) only, measurable rate, exact restore."""

from __future__ import annotations

import os
import re

import pytest

from chaos.errors import HostError
from chaos.host import tc
from chaos.host.kernel import probe_capabilities
from chaos.host.run import in_netns, run
from tests.host.netlab import NetPair, in_namespace, send_throughput

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="tc tests need root")


def test_tbf_and_netem_argv_are_exact() -> None:
    assert tc.tbf_argv(dev="eth0", rate_bps=4_000_000, burst_bytes=16384, latency_ms=50) == [
        "tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "c4a0:", "tbf",
        "rate", "4000000bit", "burst", "16384", "latency", "50ms",
    ]  # fmt: skip
    assert tc.netem_argv(dev="eth0", delay_ms=100, jitter_ms=10, loss_percent=2.5) == [
        "tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "c4a0:", "netem",
        "delay", "100ms", "10ms", "loss", "2.5%",
    ]  # fmt: skip
    assert tc.delete_argv(dev="eth0") == ["tc", "qdisc", "del", "dev", "eth0", "root",
                                          "handle", "c4a0:"]  # fmt: skip
    with pytest.raises(ValueError):
        tc.tbf_argv(dev="eth0", rate_bps=0, burst_bytes=1, latency_ms=1)


def test_parse_root_reads_kind_and_handle() -> None:
    parsed = tc.parse_root("qdisc tbf c4a0: root refcnt 2 rate 1Mbit burst 32Kb lat 50ms \n")
    assert parsed == tc.RootQdisc(kind="tbf", handle="c4a0:") and parsed.ours
    assert not tc.parse_root("qdisc noqueue 0: root refcnt 2\n").ours


def _qdiscs(netns: NetPair) -> str:
    """The qdisc configuration, without its live counters (a stray packet bumps them)."""
    shown = run(in_netns(netns.a_pid, ["tc", "qdisc", "show"])).stdout
    return re.sub(r"direct_packets_stat \d+", "direct_packets_stat N", shown)


@needs_root
def test_tbf_limits_throughput_and_remove_restores_exactly(netns: NetPair) -> None:
    before = _qdiscs(netns)
    assert tc.root_qdisc(dev=netns.a_dev, netns_pid=netns.a_pid) == "noqueue"
    rate = 4_000_000
    kw = {"dev": netns.a_dev, "rate_bps": rate, "burst_bytes": 16384, "latency_ms": 100}
    tc.add_tbf(**kw, netns_pid=netns.a_pid)
    tc.add_tbf(**kw, netns_pid=netns.a_pid)  # twice == once
    try:
        assert tc.root_qdisc(dev=netns.a_dev, netns_pid=netns.a_pid) == "tbf"
        measured = in_namespace(
            netns.a, lambda: send_throughput(netns.b_ip, netns.sink_port, size=1_000_000)
        )
    finally:
        assert tc.remove_ours(dev=netns.a_dev, netns_pid=netns.a_pid)
    print(f"tbf at {rate} bit/s: measured {measured:.0f} bit/s ({measured / rate:.1%})")
    assert 0.8 * rate <= measured <= 1.2 * rate
    assert not tc.remove_ours(dev=netns.a_dev, netns_pid=netns.a_pid)  # twice is fine
    assert _qdiscs(netns) == before


@needs_root
def test_foreign_root_qdisc_is_never_replaced_or_removed(netns: NetPair) -> None:
    foreign = ["tc", "qdisc", "add", "dev", netns.a_dev, "root", "handle", "1:", "htb"]
    run(in_netns(netns.a_pid, foreign))
    before = _qdiscs(netns)
    with pytest.raises(HostError, match="refusing to replace root qdisc htb 1:"):
        tc.add_tbf(dev=netns.a_dev, rate_bps=10**6, burst_bytes=16384, latency_ms=50,
                   netns_pid=netns.a_pid)  # fmt: skip
    assert not tc.remove_ours(dev=netns.a_dev, netns_pid=netns.a_pid)
    assert _qdiscs(netns) == before


@needs_root
def test_netem_works_or_fails_cleanly_as_the_probe_says(netns: NetPair) -> None:
    before = _qdiscs(netns)
    if probe_capabilities().netem:
        tc.add_netem(dev=netns.a_dev, delay_ms=10, netns_pid=netns.a_pid)
        assert tc.root_qdisc(dev=netns.a_dev, netns_pid=netns.a_pid) == "netem"
        assert tc.remove_ours(dev=netns.a_dev, netns_pid=netns.a_pid)
    else:
        with pytest.raises(HostError, match="netem delay 10ms"):
            tc.add_netem(dev=netns.a_dev, delay_ms=10, netns_pid=netns.a_pid)
    assert _qdiscs(netns) == before


@needs_root
def test_default_route_dev_finds_the_only_device_or_the_route(netns: NetPair) -> None:
    assert tc.default_route_dev(netns.a_pid) == netns.a_dev
    run(in_netns(netns.a_pid, ["ip", "route", "add", "default", "via", netns.b_ip]))
    assert tc.default_route_dev(netns.a_pid) == netns.a_dev
