"""The one place that runs short host commands (iptables, tc, ip, nsenter).

Commands are argv lists built by pure functions elsewhere in ``chaos.host`` so tests
can compare them exactly; nothing here ever goes through a shell. Every failure
(missing binary, timeout, non-zero exit when ``check``) becomes a ``HostError`` that
names the argv and the command's stderr, because "iptables failed" alone is useless
at 3 a.m.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.errors import HostError


@dataclass(frozen=True)
class Completed:
    """What a finished command left behind (decoded as UTF-8, undecodable bytes replaced)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


NetnsRef = int | str | None
"""A network namespace: a PID whose namespace to enter, a namespace file path
(``/run/netns/NAME``), or None for our own."""


def in_netns(pid: NetnsRef, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside a network namespace; None means our own namespace.

    Entering by PID is what reaches containers and pods, whose namespaces often have
    no name; a path (``/run/netns/NAME``) keeps working after the process that lived
    there exited, which is what a revert needs.
    """
    if pid is None:
        return list(argv)
    if isinstance(pid, str):
        return ["nsenter", f"--net={pid}", "--", *argv]
    return ["nsenter", "-t", str(pid), "-n", "--", *argv]


def netns_ref(pid: int) -> NetnsRef:
    """The most durable handle on ``pid``'s network namespace: its name's file under
    /run/netns when it has one, else the PID itself."""
    try:
        wanted = os.stat(f"/proc/{pid}/ns/net")
    except OSError as exc:
        raise HostError(f"process {pid} is gone: cannot find its network namespace") from exc
    for directory in ("/run/netns", "/var/run/netns"):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                found = os.stat(path)
            except OSError:
                continue
            if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
                return path
    return pid


def run(
    argv: Sequence[str],
    *,
    timeout: float = 10,
    check: bool = True,
    input: bytes | None = None,  # same name as subprocess.run's
) -> Completed:
    """Run ``argv`` to completion and return its output; raise HostError when it fails."""
    args = [str(part) for part in argv]
    if not args:
        raise HostError("refusing to run an empty command")
    shown = " ".join(args)
    try:
        proc = subprocess.run(
            args,
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise HostError(f"command not found: {args[0]} (running: {shown})") from exc
    except subprocess.TimeoutExpired as exc:
        raise HostError(f"command timed out after {timeout:g}s: {shown}") from exc
    except OSError as exc:
        raise HostError(f"could not start {shown}: {exc}") from exc
    done = Completed(
        argv=tuple(args),
        returncode=proc.returncode,
        stdout=proc.stdout.decode(errors="replace"),
        stderr=proc.stderr.decode(errors="replace"),
    )
    if check and not done.ok:
        detail = done.stderr.strip() or done.stdout.strip() or "no output"
        raise HostError(f"command failed with exit {done.returncode}: {shown}: {detail}")
    return done
