"""Lease files: a fault's lease expiry on disk, readable by processes that outlive the agent.

One empty file per fault, ``<lease dir>/<sha256 of the fault id, 32 hex>`` (any fault
id, whatever its characters or length, makes a safe file name), whose modification time *is*
the lease's wall-clock expiry. The agent creates it before the host is touched,
moves its mtime on every renewal and removes it once the fault is reverted.

Why the mtime: moving it needs no data block, so renewals keep working on a full
disk (ENOSPC), and a reader needs one ``stat``. Helper processes (stressors, the
delay proxy) find their file through the environment (``CHAOS_LEASE_DIR`` plus
their ``CHAOS_FAULT_ID`` tag) and exit once the lease has run out, whether the
agent is alive to revert them or not; the agent's watchdog reads the same files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path

LEASE_DIR_ENV = "CHAOS_LEASE_DIR"
FAULT_ID_ENV = "CHAOS_FAULT_ID"  # the tag chaos.host.procs puts on every helper
# a helper outlives its lease by this much, so the agent (or its watchdog) takes back
# the rules that send traffic to it first: a delay proxy gone before its REDIRECT would
# turn added latency into refused connections. Still within the TTL + 5 s promise.
HELPER_GRACE_S = 2.0


def lease_path(directory: Path, fault_id: str) -> Path:
    return directory / hashlib.sha256(fault_id.encode()).hexdigest()[:32]


def write(path: Path, *, expires_at: float) -> None:
    """Create (or move) the lease so that it ends at ``expires_at`` (wall clock)."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    os.utime(path, (expires_at, expires_at))


def expiry(path: Path) -> float | None:
    """The lease's wall-clock expiry; None if there is no lease (reverted, or never made)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def from_environment() -> Path | None:
    """The lease file of the fault this helper process belongs to, if it was given one."""
    directory, fault_id = os.environ.get(LEASE_DIR_ENV), os.environ.get(FAULT_ID_ENV)
    if not directory or not fault_id:
        return None
    return lease_path(Path(directory), fault_id)


def ended(path: Path | None, *, grace_s: float = HELPER_GRACE_S) -> bool:
    """True once a helper's lease has run out (``grace_s`` ago) or is gone (reverted):
    time for the helper to exit."""
    if path is None:
        return False
    until = expiry(path)
    return until is None or until + grace_s <= time.time()
