"""The agent's on-disk undo journal: every fault is written down before the host is touched.

One JSON object per line, appended and fsync'd:

    {"op": "prepared", "id": ..., "fault": ..., "undo": {...}, "request": {...},
     "lease_until": <wall clock>, "at": ...}
    {"op": "applied",  "id": ..., "undo": {...}, "at": ...}
    {"op": "reverted", "id": ..., "at": ...}

A fault is *pending* from its ``prepared`` line until its ``reverted`` line. On
start the agent reverts every pending fault. A torn or corrupt line (a crash in
the middle of a write) is skipped and counted, never fatal: the ``prepared`` line
of a fault is fsync'd before the host changes, so a torn line means the host was
not touched for that write.

Next to the journal: ``leases/<hash of the fault id>`` (see :mod:`chaos.host.lease`: the mtime
is the lease's wall-clock expiry, moved on every renewal), and two lock files that
keep the agent and its watchdog (:mod:`chaos.agent.watchdog`) from ever acting on
the journal at the same time: ``agent.lock`` is held by the live agent for its
whole life (the kernel drops it when the agent dies, even by SIGKILL), and
``watchdog.lock`` by the one watchdog of this directory.

While running, the journal is compacted (rewritten with only what is pending:
temp file, fsync, rename, directory fsync) whenever the last pending fault is
reverted and every ``COMPACT_EVERY`` records, so it no longer grows until a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.host import lease

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"
LEASE_DIR = "leases"
AGENT_LOCK = "agent.lock"
WATCHDOG_LOCK = "watchdog.lock"
COMPACT_EVERY = 512  # records appended between two compactions while faults stay pending


@dataclass
class PendingFault:
    id: str
    fault: str
    undo: dict[str, Any]
    request: dict[str, Any] = field(default_factory=dict)
    applied: bool = False
    lease_until: float | None = None  # wall clock, as journaled at apply time


class UndoJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / JOURNAL_FILE
        self.lease_dir = directory / LEASE_DIR
        self.corrupt_lines = 0
        self._lock = threading.Lock()
        self._open: set[str] | None = None  # pending ids, known once the journal was read
        self._since_compact = 0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lease_dir.mkdir(exist_ok=True, mode=0o700)

    # ------------------------------------------------------------ writing

    def prepared(
        self,
        *,
        fault_id: str,
        fault: str,
        undo: dict[str, Any],
        request: dict[str, Any],
        lease_until: float | None = None,
    ) -> None:
        """Journal a fault before the host changes; with ``lease_until``, also create its
        lease file (before any helper process of the fault can look for it)."""
        record = {"op": "prepared", "id": fault_id, "fault": fault, "undo": undo}
        if lease_until is not None:
            lease.write(self.lease_file(fault_id), expires_at=lease_until)
            record["lease_until"] = lease_until
        try:
            self._append({**record, "request": request})
        except OSError:
            with contextlib.suppress(OSError):  # not journaled: no lease either
                lease.remove(self.lease_file(fault_id))
            raise

    def applied(self, *, fault_id: str, undo: dict[str, Any]) -> None:
        self._append({"op": "applied", "id": fault_id, "undo": undo})

    def renew_lease(self, *, fault_id: str, lease_until: float) -> None:
        """Move a lease's expiry (no journal line: renewals are frequent, the mtime is enough)."""
        lease.write(self.lease_file(fault_id), expires_at=lease_until)

    def reverted(self, *, fault_id: str) -> None:
        """Journal a revert; compact once nothing is pending (or every COMPACT_EVERY records).

        The lease file goes first: it needs no space, and helpers must not outlive a
        revert even when the journal line below cannot be written.
        """
        lease.remove(self.lease_file(fault_id))
        self._append({"op": "reverted", "id": fault_id})
        with self._lock:
            due = self._open is not None and (
                not self._open or self._since_compact >= COMPACT_EVERY
            )
        if due:
            try:
                self.compact()
            except OSError as exc:  # the journal as it was stays valid; try again later
                log.warning("journal %s: compaction failed: %s", self.path, exc)

    def lease_file(self, fault_id: str) -> Path:
        return lease.lease_path(self.lease_dir, fault_id)

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps({**record, "at": time.time()}, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _append_whole_line(fd, line.encode())
            finally:
                os.close(fd)
            self._since_compact += 1
            if self._open is not None:
                if record["op"] == "prepared":
                    self._open.add(record["id"])
                elif record["op"] == "reverted":
                    self._open.discard(record["id"])

    # ------------------------------------------------------------ reading

    def pending(self) -> list[PendingFault]:
        """Faults prepared and not yet reverted, in the order they were prepared."""
        faults: dict[str, PendingFault] = {}
        for record in self._records():
            fault_id = str(record.get("id", ""))
            op = record.get("op")
            if op == "prepared" and isinstance(record.get("undo"), dict):
                until = record.get("lease_until")
                faults[fault_id] = PendingFault(
                    id=fault_id,
                    fault=str(record.get("fault", "")),
                    undo=record["undo"],
                    request=record.get("request") or {},
                    applied=bool(record.get("applied", False)),
                    lease_until=float(until) if isinstance(until, int | float) else None,
                )
            elif op == "applied" and fault_id in faults and isinstance(record.get("undo"), dict):
                faults[fault_id].undo = record["undo"]
                faults[fault_id].applied = True
            elif op == "reverted":
                faults.pop(fault_id, None)
        self._open = set(faults)
        return list(faults.values())

    def _records(self) -> list[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records, corrupt = [], 0
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                corrupt += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                corrupt += 1
        if corrupt:
            log.warning("journal %s: skipped %d corrupt or torn line(s)", self.path, corrupt)
        # compaction drops corrupt lines, so keep the count of what this journal skipped
        self.corrupt_lines = max(self.corrupt_lines, corrupt)
        return records

    def compact(self) -> None:
        """Rewrite the journal with only what is still pending (atomically: tmp + rename)."""
        with self._lock:
            pending = self.pending()
            tmp = self.path.with_suffix(".tmp")
            try:
                _write_synced(tmp, b"".join(_compacted_line(item) for item in pending))
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            _fsync_dir(self.directory)  # make the rename itself durable
            self._since_compact = 0


def _append_whole_line(fd: int, line: bytes) -> None:
    """Append ``line`` and fsync, or leave the file as it was and raise.

    A full disk can take part of a write (a short write, then ENOSPC): that tail is cut
    off again, or the next record would be glued to it and lost as a corrupt line. A
    tail torn by a crash gets a newline first, for the same reason.
    """
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        line = b"\n" + line
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _compacted_line(item: PendingFault) -> bytes:
    record: dict[str, Any] = {
        "op": "prepared",
        "id": item.id,
        "fault": item.fault,
        "undo": item.undo,
        "request": item.request,
        "applied": item.applied,
        "at": time.time(),
    }
    if item.lease_until is not None:
        record["lease_until"] = item.lease_until
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _open_lock_file(path: Path) -> int:
    # read-only: a lock held for days must not count as a file open for writing (that
    # would keep the filesystem from being remounted read-only, e.g. by an admin)
    return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive flock on ``path`` for the block if nobody else holds it; yields
    whether we got it. Never blocks."""
    fd = _open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing drops the lock


def hold_lock(path: Path, *, timeout_s: float, what: str) -> int:
    """Take an exclusive flock on ``path`` (waiting up to ``timeout_s``) and return the
    descriptor that keeps it: held until it is closed or the process dies."""
    fd = _open_lock_file(path)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise TimeoutError(f"{path} is held by {what}") from None
            time.sleep(0.05)
