"""chaos.host.delayproxy: a REDIRECTed connection gains the configured delay, then all goes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from chaos.errors import HostError
from chaos.host import iptables as ipt
from chaos.host import procfs, procs
from chaos.host.delayproxy import deliver_at, proxy_argv
from tests.host.netlab import NetPair, echo_rtts, in_namespace, median_ms

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the delay proxy tests need root")
PROXY_PORT = 15001
MARK = 0xC4A0


def test_proxy_argv_is_exact() -> None:
    assert proxy_argv(port=1, delay_ms=100, jitter_ms=2.5, mark=7, ttl_s=60, python="py") == [
        "py", "-m", "chaos.host.delayproxy", "--port", "1", "--delay-ms", "100",
        "--jitter-ms", "2.5", "--mark", "7", "--ttl-s", "60",
    ]  # fmt: skip


def test_delivery_times_never_reorder_chunks() -> None:
    times, last = [], 0.0
    for arrival in (0.0, 0.001, 0.002, 0.003):
        last = deliver_at(previous=last, arrival=arrival, delay_s=0.1, jitter_s=0.05)
        times.append(last)
    assert times == sorted(times) and all(0.05 <= t <= 0.153 for t in times)
    assert deliver_at(previous=0, arrival=1, delay_s=0.1, jitter_s=0) == pytest.approx(1.1)


@needs_root
def test_redirected_round_trips_gain_the_delay_and_revert_is_clean(
    netns: NetPair, fault_id: Callable[[], str]
) -> None:
    fid = fault_id()
    chain = ipt.chain_name(fid)
    before = ipt.ruleset(netns.a_pid)
    rtts = lambda: echo_rtts(netns.b_ip, netns.tcp_port, rounds=20)  # noqa: E731
    baseline = median_ms(in_namespace(netns.a, rtts))
    kw = {"fault_id": fid, "netns_pid": netns.a_pid, "delay_ms": 100,
          "jitter_ms": 0, "mark": MARK, "ttl_s": 30}  # fmt: skip
    pid, port = procs.start_delay_proxy(**kw)  # on a port the kernel picked
    assert procs.start_delay_proxy(**kw) == (pid, port)  # idempotent: the same proxy
    assert procfs.listening_tcp_ports(pid) == [port]  # its own socket, not the echo server's
    rules = ipt.redirect_rules(cidrs=[netns.b_ip], ports=[netns.tcp_port],
                               to_port=port, skip_mark=MARK)  # fmt: skip
    ipt.install_chain(chain=chain, table="nat", hooks=["OUTPUT"], rules=rules,
                      netns_pid=netns.a_pid)  # fmt: skip
    try:
        delayed = median_ms(in_namespace(netns.a, rtts))
    finally:
        ipt.remove_chain(chain=chain, table="nat", hooks=["OUTPUT"], netns_pid=netns.a_pid)
        assert procs.stop_tagged(fid) == 1
    added = delayed - baseline
    print(f"delay proxy 100 ms: baseline {baseline:.2f} ms, delayed {delayed:.2f} ms, "
          f"added {added:.2f} ms ({added / 100:.1%})")  # fmt: skip
    assert 95 <= added <= 105
    assert ipt.ruleset(netns.a_pid) == before and procs.find_tagged(fid) == []
    assert median_ms(in_namespace(netns.a, rtts)) < 20


@needs_root
def test_proxy_exits_by_itself_after_its_ttl(netns: NetPair, fault_id: Callable[[], str]) -> None:
    fid = fault_id()
    pid, _ = procs.start_delay_proxy(fault_id=fid, netns_pid=netns.a_pid, port=PROXY_PORT,
                                     delay_ms=10, jitter_ms=0, mark=MARK, ttl_s=0.5)  # fmt: skip
    deadline = time.monotonic() + 5
    while procs.find_tagged(fid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs.find_tagged(fid) == [] and not procfs.pid_alive(pid)


@needs_root
def test_a_proxy_that_cannot_start_says_why_and_leaves_nothing(
    netns: NetPair, fault_id: Callable[[], str]
) -> None:
    """Asked for a port the namespace's echo server holds, the proxy dies at once; the
    error carries the proxy's own last words, and no tagged process is left."""
    fid = fault_id()
    with pytest.raises(HostError, match=r"exited at start: .*[Aa]ddress already in use"):
        procs.start_delay_proxy(fault_id=fid, netns_pid=netns.a_pid, port=netns.tcp_port,
                                delay_ms=10, jitter_ms=0, mark=MARK, ttl_s=5)  # fmt: skip
    assert procs.find_tagged(fid) == []


@needs_root
def test_proxy_ends_with_its_lease_not_its_ttl(
    netns: NetPair, fault_id: Callable[[], str], tmp_path, monkeypatch
) -> None:
    from chaos.host import lease

    fid = fault_id()
    lease.write(lease.lease_path(tmp_path, fid), expires_at=time.time() + 1.5)
    monkeypatch.setenv(lease.LEASE_DIR_ENV, str(tmp_path))  # as `chaos agent serve` sets it
    pid, _ = procs.start_delay_proxy(fault_id=fid, netns_pid=netns.a_pid, port=PROXY_PORT,
                                     delay_ms=10, jitter_ms=0, mark=MARK, ttl_s=3600)  # fmt: skip
    time.sleep(1.0)
    assert procfs.pid_alive(pid)
    deadline = time.monotonic() + 6  # the lease's end + 2 s grace + one look a second
    while procs.find_tagged(fid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs.find_tagged(fid) == [] and not procfs.pid_alive(pid)
