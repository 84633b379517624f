"""CPU and memory stressors, plus moving them into the target's cgroups.

Run as ``python -m chaos.host.stress cpu --workers N --load PCT --ttl-s T`` or
``python -m chaos.host.stress memory --mib M --ttl-s T``. Both stop by themselves
on SIGTERM, after the TTL (a hard cap), and -- the dead-man's switch if the agent
dies -- as soon as their fault's lease ends: started by an agent they find their
lease file through the environment (:mod:`chaos.host.lease`) and re-read it every
second, so they live as long as the lease (renewals included), not as long as the TTL.
CPU workers are processes, not threads, so the GIL cannot cap the load below one core
per worker.

A stressor counts against the target only when it shares the target's cgroups, so
``join_cgroup`` writes it into the target's cpu/memory cgroups (v1 or v2).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from chaos.host import lease

CGROUP_ROOT = Path("/sys/fs/cgroup")
V2_KEY = "unified"  # key for the cgroup v2 line ("0::/path") in cgroup_of()
PERIOD_S = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")
JOIN_CONTROLLERS = ("cpu", "memory")
LEASE_CHECK_S = 1.0
log = logging.getLogger(__name__)


def cpu_argv(
    *,
    workers: int,
    load: float,
    ttl_s: float,
    cgroup_of: int | None = None,
    python: str = sys.executable,
) -> list[str]:
    """Command line of the CPU stressor (start it with ``procs.spawn_tagged``)."""
    return [
        *[python, "-m", "chaos.host.stress", "cpu", "--workers", str(workers)],
        *["--load", f"{load:g}", "--ttl-s", f"{ttl_s:g}"],
        *(["--cgroup-of", str(cgroup_of)] if cgroup_of is not None else []),
    ]


def memory_argv(
    *, mib: int, ttl_s: float, cgroup_of: int | None = None, python: str = sys.executable
) -> list[str]:
    """Command line of the memory stressor (start it with ``procs.spawn_tagged``)."""
    return [
        *[python, "-m", "chaos.host.stress", "memory", "--mib", str(mib), "--ttl-s", f"{ttl_s:g}"],
        *(["--cgroup-of", str(cgroup_of)] if cgroup_of is not None else []),
    ]


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


class LeaseWatch:
    """Whether our fault's lease ended, reading its file at most once per LEASE_CHECK_S."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._next = 0.0
        self._ended = False

    def ended(self) -> bool:
        now = time.monotonic()
        if self.path is not None and not self._ended and now >= self._next:
            self._next = now + LEASE_CHECK_S
            self._ended = lease.ended(self.path)
        return self._ended


def _burn(*, load: float, deadline: float, parent: int) -> None:
    """Use ``load`` % of one core in every 100 ms period; quit at the deadline or if orphaned.

    The goal is counted in CPU time, not wall time, and a shortfall carries over (up
    to one period): on a contended machine the worker still gets close to its share
    instead of "spinning" while descheduled.
    """
    busy = PERIOD_S * load / 100
    period_end = time.monotonic()
    cpu_goal = time.process_time()
    watch = LeaseWatch(lease.from_environment())
    while time.monotonic() < deadline and os.getppid() == parent and not watch.ended():
        period_end = max(period_end + PERIOD_S, time.monotonic())
        cpu_goal = min(cpu_goal + busy, time.process_time() + PERIOD_S)
        while time.process_time() < cpu_goal and time.monotonic() < period_end:
            pass
        time.sleep(max(0.0, period_end - time.monotonic()))


def run_cpu(*, workers: int, load: float, ttl_s: float) -> None:
    deadline = time.monotonic() + ttl_s
    me = os.getpid()
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                _burn(load=load, deadline=deadline, parent=me)
            finally:
                os._exit(0)
        children.append(pid)
    try:
        for pid in children:
            os.waitpid(pid, 0)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)  # only our own forked workers
                os.waitpid(pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass  # already exited and reaped


def run_memory(*, mib: int, ttl_s: float) -> None:
    """Allocate ``mib`` MiB and write one byte per page so it is resident, then hold it."""
    block = bytearray(mib * 1024 * 1024)
    block[::PAGE] = b"\x01" * len(range(0, len(block), PAGE))
    deadline = time.monotonic() + ttl_s
    watch = LeaseWatch(lease.from_environment())
    while time.monotonic() < deadline and not watch.ended():
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    del block


def cgroup_of(pid: int) -> dict[str, str]:
    """``{controller: path}`` from /proc/<pid>/cgroup; the v2 line is under ``V2_KEY``."""
    groups: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            groups[V2_KEY] = path
        for name in filter(None, controllers.split(",")):
            groups[name] = path
    return groups


def _procs_files(groups: dict[str, str], root: Path) -> list[tuple[str, Path]]:
    """(label, cgroup.procs) pairs to write: v1 cpu/memory, plus the v2 group if any."""
    files = [
        (f"{name}:{groups[name]}", root / name / groups[name].lstrip("/") / "cgroup.procs")
        for name in JOIN_CONTROLLERS
        if name in groups
    ]
    if V2_KEY in groups:
        base = root / "unified" if (root / "unified" / "cgroup.procs").exists() else root
        files.append(
            (f"{V2_KEY}:{groups[V2_KEY]}", base / groups[V2_KEY].lstrip("/") / "cgroup.procs")
        )
    return files


def join_cgroup(*, child_pid: int, target_pid: int, root: Path = CGROUP_ROOT) -> list[str]:
    """Move ``child_pid`` into ``target_pid``'s cpu/memory cgroups; return what it joined.

    A cgroup we cannot write (read-only cgroupfs, v2 "no internal processes") is logged
    and skipped: the stressor still runs, it just is not accounted to the target.
    """
    joined = []
    for label, procs in _procs_files(cgroup_of(target_pid), root):
        if ".." in procs.parts:
            # the target's cgroup lies outside ours: we run in a private cgroup namespace
            # (a pod on cgroup v2), so the path cannot be mapped onto the host's cgroupfs
            log.warning(
                "stressor %d not moved to cgroup %s: outside this process's cgroup namespace",
                child_pid,
                label,
            )
            continue
        try:
            fd = os.open(procs, os.O_WRONLY)  # never O_CREAT: only real cgroup files
            try:
                os.write(fd, f"{child_pid}\n".encode())
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("stressor %d not moved to cgroup %s: %s", child_pid, label, exc)
            continue
        joined.append(label)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.host.stress")
    sub = parser.add_subparsers(dest="kind", required=True)
    cpu = sub.add_parser("cpu")
    cpu.add_argument("--workers", type=int, default=1)
    cpu.add_argument("--load", type=float, default=100.0)
    cpu.add_argument("--ttl-s", type=float, required=True)
    mem = sub.add_parser("memory")
    mem.add_argument("--mib", type=int, required=True)
    mem.add_argument("--ttl-s", type=float, required=True)
    for sub_parser in (cpu, mem):
        sub_parser.add_argument(
            "--cgroup-of",
            type=int,
            default=None,
            help="join this process's cpu/memory cgroups before starting",
        )
    args = parser.parse_args(argv)
    if args.ttl_s <= 0:
        parser.error("--ttl-s must be > 0")
    _stop_on_sigterm()
    if args.cgroup_of is not None:
        # join first, then fork workers or allocate: everything is accounted to the target
        join_cgroup(child_pid=os.getpid(), target_pid=args.cgroup_of)
    if args.kind == "cpu":
        if args.workers < 1 or not 0 < args.load <= 100:
            parser.error("cpu needs --workers >= 1 and 0 < --load <= 100")
        run_cpu(workers=args.workers, load=args.load, ttl_s=args.ttl_s)
    else:
        if args.mib < 1:
            parser.error("memory needs --mib >= 1")
        run_memory(mib=args.mib, ttl_s=args.ttl_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
