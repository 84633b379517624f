"""Run a short user-supplied command (a command probe) with bounded output and a timeout.

Unlike ``chaos.host.run``, which raises ``HostError`` for the host tools we drive,
nothing here raises for a command that fails: the caller judges the outcome, and a
command that did not finish comes back as the reason, as a string.

The command runs in its own session so that, on timeout, ``killpg`` reaches the whole
group it started (a shell's children too) and only that group. Whatever it leaves
behind in that group after exiting is killed as well: a probe runs every second and
must not accumulate stray processes.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

OUTPUT_LIMIT = 64 * 1024  # per stream: a chatty command must not grow the controller's memory
_READ_CHUNK = 16 * 1024


@dataclass(frozen=True)
class CommandOutput:
    """What a finished command left: its exit code, the head of stdout, the tail of stderr."""

    returncode: int
    stdout: bytes  # the first OUTPUT_LIMIT bytes: what the stdout match judges
    stderr: bytes  # the last OUTPUT_LIMIT bytes: the end is where a failure is explained
    stdout_truncated: bool


def run_command(
    argv: Sequence[str], *, env: Mapping[str, str], timeout: float
) -> CommandOutput | str:
    """Run ``argv`` with bounded output; the reason as a string when it did not finish."""
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            start_new_session=True,  # its own process group, whose id is its PID
            close_fds=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument
        return f"cannot run: {exc}"
    try:
        captured = _capture(process, deadline=time.monotonic() + timeout)
    except OSError as exc:  # pidfd_open needs Linux 5.3 or later
        return f"cannot watch the command: {exc}"
    finally:
        # Not yet reaped, so the group id is still ours alone: kill, then reap.
        _kill_group(process.pid)
        process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    if captured is None:
        return f"timed out after {timeout:g}s"
    stdout, stderr = captured
    return CommandOutput(
        returncode=process.returncode,
        stdout=bytes(stdout[:OUTPUT_LIMIT]),
        stderr=bytes(stderr),
        stdout_truncated=len(stdout) > OUTPUT_LIMIT,
    )


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15: how to name the signal behind a negative return code."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _capture(
    process: subprocess.Popen[bytes], *, deadline: float
) -> tuple[bytearray, bytearray] | None:
    """Read stdout and stderr until the command exits and nothing is left; None on timeout.

    Exit is watched through a pidfd, which does not reap the process (so its group
    id cannot be reused before we kill the group) and lets one ``select`` wait for
    output and exit together. Once it has exited we stop at the first quiet moment:
    a background child still holding the pipes must not keep the probe waiting.
    Output past the bound is read and dropped, so a chatty command never blocks.
    """
    assert process.stdout is not None and process.stderr is not None
    out, err = bytearray(), bytearray()
    keep: dict[int, Callable[[bytes], None]] = {
        process.stdout.fileno(): lambda chunk: out.extend(chunk[: OUTPUT_LIMIT + 1 - len(out)]),
        process.stderr.fileno(): lambda chunk: _keep_tail(err, chunk),
    }
    exit_fd = os.pidfd_open(process.pid)
    try:
        with selectors.DefaultSelector() as selector:
            for fd in (*keep, exit_fd):
                selector.register(fd, selectors.EVENT_READ)
            exited = False
            while (remaining := deadline - time.monotonic()) > 0:
                ready = selector.select(0 if exited else remaining)
                if exited and not ready:
                    return out, err
                for key, _ in ready:
                    exited = _pump(selector, key.fd, keep, exit_fd=exit_fd) or exited
            return None
    finally:
        os.close(exit_fd)


def _pump(
    selector: selectors.BaseSelector,
    fd: int,
    keep: Mapping[int, Callable[[bytes], None]],
    *,
    exit_fd: int,
) -> bool:
    """Handle one ready descriptor; True when it says the command has exited."""
    if fd == exit_fd:
        selector.unregister(fd)
        return True
    chunk = os.read(fd, _READ_CHUNK)
    if chunk:
        keep[fd](chunk)
    else:
        selector.unregister(fd)  # end of file
    return False


def _keep_tail(buffer: bytearray, chunk: bytes) -> None:
    buffer.extend(chunk)
    del buffer[:-OUTPUT_LIMIT]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already empty
        os.killpg(pgid, signal.SIGKILL)
