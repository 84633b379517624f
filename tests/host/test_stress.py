"""chaos.host.stress: CPU load and resident memory close to what was asked; cgroup joining."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.host import procs, stress

TICK = os.sysconf("SC_CLK_TCK")
CPU_V1 = Path("/sys/fs/cgroup/cpu")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_argv_are_exact() -> None:
    assert stress.cpu_argv(workers=2, load=50, ttl_s=30, python="py") == [
        "py", "-m", "chaos.host.stress", "cpu", "--workers", "2", "--load", "50", "--ttl-s", "30",
    ]  # fmt: skip
    assert stress.memory_argv(mib=64, ttl_s=30, python="py") == [
        "py", "-m", "chaos.host.stress", "memory", "--mib", "64", "--ttl-s", "30",
    ]  # fmt: skip


def test_cpu_workers_burn_about_the_requested_load(fault_id: Callable[[], str]) -> None:
    fid = fault_id()
    procs.spawn_tagged(stress.cpu_argv(workers=2, load=40, ttl_s=20), fault_id=fid)
    assert _wait(lambda: len(procs.find_tagged(fid)) == 3, 3)  # parent + 2 workers
    time.sleep(0.3)
    pids = procs.find_tagged(fid)
    start_cpu, start = _cpu_seconds(pids), time.monotonic()
    time.sleep(1.5)
    used = (_cpu_seconds(pids) - start_cpu) / (time.monotonic() - start)
    print(f"cpu stress 2 workers x 40%: measured {used:.2f} cores (want 0.80)")
    assert 0.6 <= used <= 1.0
    assert procs.stop_tagged(fid) == 3 and procs.find_tagged(fid) == []


def test_memory_stressor_holds_the_requested_resident_size(fault_id: Callable[[], str]) -> None:
    fid = fault_id()
    pid = procs.spawn_tagged(stress.memory_argv(mib=64, ttl_s=20), fault_id=fid)
    assert _wait(lambda: _rss_mib(pid) >= 64, 5)
    rss = _rss_mib(pid)
    print(f"memory stress 64 MiB: RSS {rss:.1f} MiB")
    assert 64 <= rss <= 64 + 32  # the interpreter itself is ~10-20 MiB
    assert procs.stop_tagged(fid) == 1


def test_stressors_exit_by_themselves_after_the_ttl(fault_id: Callable[[], str]) -> None:
    fid = fault_id()
    procs.spawn_tagged(stress.cpu_argv(workers=1, load=10, ttl_s=0.5), fault_id=fid)
    procs.spawn_tagged(stress.memory_argv(mib=1, ttl_s=0.5), fault_id=fid)
    assert _wait(lambda: procs.find_tagged(fid) == [], 5)


def test_cgroup_of_parses_v1_and_v2_lines() -> None:
    groups = stress.cgroup_of(os.getpid())
    assert groups  # every process has at least one hierarchy
    assert all(path.startswith("/") for path in groups.values())


@pytest.fixture
def cpu_cgroup() -> Iterator[Path]:
    """A fresh v1 cpu cgroup, removed at teardown (after its processes are gone)."""
    if os.geteuid() != 0 or not (CPU_V1 / "cgroup.procs").exists():
        pytest.skip("needs root and a v1 cpu hierarchy")
    group = CPU_V1 / f"chaos-t-{secrets.token_hex(4)}"
    group.mkdir()
    try:
        yield group
    finally:
        _wait(lambda: not (group / "cgroup.procs").read_text().strip(), 3)
        group.rmdir()


def test_join_cgroup_moves_the_stressor_into_the_targets_groups(
    cpu_cgroup: Path, fault_id: Callable[[], str]
) -> None:
    target = subprocess.Popen(["sleep", "30"])
    try:
        (cpu_cgroup / "cgroup.procs").write_text(f"{target.pid}\n")
        fid = fault_id()
        child = procs.spawn_tagged(stress.memory_argv(mib=1, ttl_s=20), fault_id=fid)
        joined = stress.join_cgroup(child_pid=child, target_pid=target.pid)
        assert f"cpu:/{cpu_cgroup.name}" in joined
        assert stress.cgroup_of(child)["cpu"] == f"/{cpu_cgroup.name}"
        procs.stop_tagged(fid)
    finally:
        target.kill()
        target.wait()


def test_join_cgroup_reports_unwritable_groups_instead_of_failing(
    tmp_path: Path, fault_id: Callable[[], str]
) -> None:
    fid = fault_id()
    child = procs.spawn_tagged(["sleep", "30"], fault_id=fid)
    # a fake cgroup root with no cgroup.procs files: nothing can be joined, nothing raises
    assert stress.join_cgroup(child_pid=child, target_pid=os.getpid(), root=tmp_path) == []


def test_a_cgroup_outside_our_cgroup_namespace_is_skipped_not_walked_out_of_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a pod on cgroup v2 the agent sees a target's cgroup as ``/../../kubepods/…``;
    joined onto the cgroupfs root that would leave it. Such a path is never opened."""
    escape = tmp_path / "kubepods" / "pod1" / "cgroup.procs"
    escape.parent.mkdir(parents=True)
    escape.write_text("")
    root = tmp_path / "sys" / "fs" / "cgroup"
    root.mkdir(parents=True)
    monkeypatch.setattr(stress, "cgroup_of", lambda pid: {stress.V2_KEY: "/../../../kubepods/pod1"})
    assert stress.join_cgroup(child_pid=12345, target_pid=1, root=root) == []
    assert escape.read_text() == ""  # nothing written outside the root


def test_stressors_live_as_long_as_their_lease_not_their_ttl(
    fault_id: Callable[[], str], tmp_path: Path
) -> None:
    """Started by an agent that then dies, a stressor ends with its lease (renewals
    included), not after its one-hour TTL."""
    from chaos.host import lease

    cpu, mem = fault_id(), fault_id()
    for fid in (cpu, mem):
        lease.write(lease.lease_path(tmp_path, fid), expires_at=time.time() + 2)
    env = {lease.LEASE_DIR_ENV: str(tmp_path)}
    procs.spawn_tagged(stress.cpu_argv(workers=1, load=5, ttl_s=3600), fault_id=cpu, env_extra=env)
    procs.spawn_tagged(stress.memory_argv(mib=4, ttl_s=3600), fault_id=mem, env_extra=env)
    assert _wait(lambda: len(procs.find_tagged(cpu)) == 2 and procs.find_tagged(mem), 3)
    time.sleep(1)
    for fid in (cpu, mem):  # a renewal: the lease now ends 2 s from here
        lease.write(lease.lease_path(tmp_path, fid), expires_at=time.time() + 2)
    time.sleep(1.5)  # past the first expiry: the renewal kept them
    assert len(procs.find_tagged(cpu)) == 2 and procs.find_tagged(mem)
    # gone at the lease's end + the helpers' grace (2 s) + one look a second
    assert _wait(lambda: not procs.find_tagged(cpu) and not procs.find_tagged(mem), 5)


def test_a_stressor_whose_lease_file_is_gone_stops(
    fault_id: Callable[[], str], tmp_path: Path
) -> None:
    from chaos.host import lease

    fid = fault_id()
    path = lease.lease_path(tmp_path, fid)
    lease.write(path, expires_at=time.time() + 600)
    env = {lease.LEASE_DIR_ENV: str(tmp_path)}
    procs.spawn_tagged(stress.memory_argv(mib=4, ttl_s=3600), fault_id=fid, env_extra=env)
    assert _wait(lambda: bool(procs.find_tagged(fid)), 3)
    time.sleep(0.5)
    lease.remove(path)  # what a revert (by the agent or its watchdog) does first
    assert _wait(lambda: not procs.find_tagged(fid), 3)
