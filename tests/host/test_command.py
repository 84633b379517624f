"""chaos.host.command: real programs, run without a shell, in a process group of their own.

A timeout kills the whole group the command started (a shell's children too) and
nothing else; whatever the command leaves behind is killed too, and never delays it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from chaos.host.command import CommandOutput, run_command


def run(argv: list[str], *, timeout: float = 2.0) -> CommandOutput | str:
    return run_command(argv, env=dict(os.environ), timeout=timeout)


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for a reaper counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def wait_gone(pid: int, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_stdin_is_empty_so_a_reader_does_not_wait_for_input() -> None:
    started = time.monotonic()
    assert run(["cat"]) == CommandOutput(
        returncode=0, stdout=b"", stderr=b"", stdout_truncated=False
    )
    assert time.monotonic() - started < 1.0


def test_arguments_reach_the_program_without_a_shell() -> None:
    output = run(["printf", "%s|", "$HOME", "a b", ";true"])
    assert isinstance(output, CommandOutput)
    assert output.stdout == b"$HOME|a b|;true|"


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    result = run(["/bin/sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], timeout=0.5)
    assert result == "timed out after 0.5s"
    assert 0.5 <= time.monotonic() - started < 2.0
    child = int(pid_file.read_text())
    assert wait_gone(child), f"the shell's child sleep {child} survived the timeout"


def test_a_background_leftover_neither_delays_the_command_nor_survives_it(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    output = run(["/bin/sh", "-c", f"sleep 30 & echo $! > {pid_file}; echo done"])
    assert isinstance(output, CommandOutput)
    assert (output.returncode, output.stdout) == (0, b"done\n")
    assert time.monotonic() - started < 2.0  # the sleep still held stdout when the shell exited
    child = int(pid_file.read_text())
    assert wait_gone(child), f"the command's leftover sleep {child} is still running"


def test_a_process_outside_the_commands_group_is_never_signalled() -> None:
    bystander = subprocess.Popen(["sleep", "30"])  # in our own process group, not the command's
    try:
        assert run(["sleep", "5"], timeout=0.2) == "timed out after 0.2s"
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_endless_output_ends_at_the_timeout() -> None:
    started = time.monotonic()
    assert run(["yes"], timeout=0.3) == "timed out after 0.3s"
    assert time.monotonic() - started < 2.0
