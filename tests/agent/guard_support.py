"""Real processes for the guard tests: lab processes, a PID namespace's init, a process
jailed in its own mount namespace on a tmpfs root. Each is stopped (and its mounts go
with its namespace) when the test ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaos.agent.journal import UndoJournal
from chaos.agent.scope import ScopePolicy
from chaos.agent.service import AgentService
from chaos.faults import CATALOG, wire
from chaos.faults.base import FaultRequest, HostContext
from chaos.host import procfs
from chaos.spec.models import TargetKind
from chaos.targets.base import Target
from tests.support import wait_for

LAB = f"guards-{os.getpid()}"
BUSYBOX = shutil.which("busybox")


@dataclass(frozen=True)
class Proc:
    pid: int
    start_time: int

    def alive(self) -> bool:
        return procfs.is_alive(procfs.ProcessIdentity(self.pid, self.start_time))


def identity(pid: int) -> Proc:
    found = procfs.identity(pid)
    assert found is not None, f"process {pid} is gone"
    return Proc(found.pid, found.start_time)


def lab_env(lab: str = LAB) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CHAOS_LAB_ID": lab}


@contextlib.contextmanager
def started(argv: list[str], *, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(part) for part in text.split()]


def only_child(pid: int) -> int:
    wait_for(lambda: len(children(pid)) == 1, timeout=5, what=f"the child of {pid}")
    return children(pid)[0]


@contextlib.contextmanager
def jailed(tmp: Path, *, lab: str = LAB) -> Iterator[Proc]:
    """``busybox sleep`` chrooted into a tmpfs root with a 4 MiB tmpfs at /data, in a
    private mount namespace: nothing of it is mounted where the host can see it."""
    assert BUSYBOX is not None
    jail = tmp / "jail"
    jail.mkdir()
    script = (
        'mount -t tmpfs -o size=16m guards-jail "$1" && cp "$2" "$1/busybox" && '
        'mkdir "$1/data" && mount -t tmpfs -o size=4m guards-data "$1/data" && '
        'exec chroot "$1" /busybox sleep 600'
    )
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]
    with started([*argv, str(jail), BUSYBOX], env=lab_env(lab)) as process:
        wait_for(
            lambda: procfs.read_cmdline(process.pid)[:1] == ["/busybox"],
            timeout=10,
            what="the jailed process",
        )
        yield identity(process.pid)


def make_service(tmp: Path, scope: ScopePolicy, **host: object) -> AgentService:
    service = AgentService(
        node="g1",
        journal=UndoJournal(tmp / "journal"),
        catalog=CATALOG,
        host=HostContext(node="g1", **host),  # type: ignore[arg-type]
        scope=scope,
    )
    service.start()
    return service


def request(
    fault: str,
    fault_id: str,
    *,
    pid: int | None = None,
    start_time: int | None = None,
    kind: TargetKind = TargetKind.PROCESS,
    attributes: dict[str, str] | None = None,
    **params: object,
) -> dict:
    target = Target(
        kind=kind,
        uid=f"u-{fault_id}",
        display=f"t-{fault_id}",
        node="g1",
        pid=pid,
        start_time=start_time,
        attributes=attributes or {},
    )
    model = CATALOG[fault].params.model_validate(params)
    built = FaultRequest(fault_id=fault_id, key=fault_id, target=target, params=model, ttl_s=30)
    return wire.request_to_json(built, fault=fault)


def kill_request(proc: Proc, fault_id: str, **kw: object) -> dict:
    return request(
        "process-kill", fault_id, pid=proc.pid, start_time=proc.start_time, signal="TERM", **kw
    )


def stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
