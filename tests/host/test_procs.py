"""chaos.host.procs: tagged helpers are found, stopped (TERM then KILL), and only they are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from chaos.host import procfs, procs

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"


def test_spawned_process_is_tagged_found_and_stopped(fault_id: Callable[[], str]) -> None:
    fid = fault_id()
    pid = procs.spawn_tagged(["sleep", "30"], fault_id=fid, env_extra={"EXTRA": "1"})
    assert procs.find_tagged(fid) == [pid]
    assert procfs.read_environ(pid)["EXTRA"] == "1"
    assert os.getsid(pid) == pid  # own session: the agent's Ctrl-C does not reach it
    assert procs.stop_tagged(fid) == 1
    assert procs.find_tagged(fid) == []
    time.sleep(0.1)  # the waiter thread reaps it: no zombie left behind
    assert not procfs.pid_alive(pid)
    assert procs.stop_tagged(fid) == 0  # stopping twice is fine


def test_untagged_and_differently_tagged_processes_are_left_alone(
    fault_id: Callable[[], str],
) -> None:
    mine, other = fault_id(), fault_id()
    plain = subprocess.Popen(["sleep", "30"])
    other_pid = procs.spawn_tagged(["sleep", "30"], fault_id=other)
    try:
        procs.spawn_tagged(["sleep", "30"], fault_id=mine)
        assert procs.stop_tagged(mine) == 1
        assert plain.poll() is None and procs.find_tagged(other) == [other_pid]
    finally:
        plain.kill()
        plain.wait()


def test_a_process_ignoring_sigterm_gets_sigkill(fault_id: Callable[[], str]) -> None:
    fid = fault_id()
    procs.spawn_tagged([sys.executable, "-c", IGNORES_TERM], fault_id=fid)
    time.sleep(0.3)  # let it install the handler
    start = time.monotonic()
    assert procs.stop_tagged(fid, timeout=0.3) == 1
    assert time.monotonic() - start < 2 and procs.find_tagged(fid) == []


def test_log_path_captures_output(fault_id: Callable[[], str], tmp_path) -> None:
    log = tmp_path / "helper.log"
    pid = procs.spawn_tagged(["echo", "hello"], fault_id=fault_id(), log_path=log)
    deadline = time.monotonic() + 3
    while procfs.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.read_text() == "hello\n"
