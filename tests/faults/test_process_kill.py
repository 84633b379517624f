"""process-kill signals exactly the selected process, never a successor with the same PID."""

import subprocess
import sys

import pytest

from chaos.errors import FaultError
from chaos.faults import CATALOG
from chaos.faults.base import FaultRequest, HostContext
from chaos.faults.process_kill import Params
from chaos.host import procfs
from chaos.spec.models import TargetKind
from chaos.targets.base import Target


def target_for(proc: subprocess.Popen, *, start_time: int | None = None) -> Target:
    started = start_time if start_time is not None else procfs.start_time(proc.pid)
    return Target(
        kind=TargetKind.PROCESS,
        uid=f"{proc.pid}@{started}",
        display="victim",
        node="local",
        pid=proc.pid,
        start_time=started,
    )


@pytest.fixture
def victim():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


HOST = HostContext(node="local")


def kill(target: Target, params: Params):
    fault = CATALOG["process-kill"]
    request = FaultRequest(fault_id="k-t0", key="k", target=target, params=params)
    return fault.apply(request, fault.prepare(request, HOST), HOST)


def test_kill_sends_the_signal_and_is_irreversible(victim):
    fault = CATALOG["process-kill"]
    undo = kill(target_for(victim), Params(signal="TERM"))
    assert victim.wait(timeout=5) == -15
    assert "SIGTERM" in undo.detail and not fault.reversible
    fault.revert(undo, HOST)  # nothing to undo, and says so by doing nothing


def test_a_reused_pid_is_never_signalled(victim):
    stale = target_for(victim, start_time=(procfs.start_time(victim.pid) or 0) - 1)
    with pytest.raises(FaultError, match="gone"):
        kill(stale, Params())
    assert victim.poll() is None  # still running


def test_a_vanished_process_is_a_clear_error(victim):
    target = target_for(victim)
    victim.kill()
    victim.wait()
    with pytest.raises(FaultError, match="process-kill"):
        kill(target, Params())


def test_unknown_signal_is_refused():
    with pytest.raises(ValueError, match="signal"):
        Params(signal="STOPALL")


@pytest.mark.parametrize(
    ("pid", "reason"),
    [(1, "PID 1 of the host"), (None, "one of its ancestors"), (2, "kernel thread")],
)
def test_the_controllers_own_path_refuses_what_the_agent_refuses(pid, reason):
    """Without an agent (the process lab), process-kill itself refuses PID 1, its caller's
    ancestors and kernel threads: nothing is signalled."""
    import os

    pid = pid or os.getppid()
    if pid == 2 and not procfs.is_kernel_thread(2):
        pytest.skip("PID 2 is not kthreadd in this PID namespace")
    started = procfs.start_time(pid)
    assert started is not None
    target = Target(
        kind=TargetKind.PROCESS, uid="x", display="x", node="local", pid=pid, start_time=started
    )
    with pytest.raises(FaultError, match=reason):
        kill(target, Params(signal="TERM"))
    assert procfs.start_time(pid) == started
