"""The agent's on-disk undo journal: every fault is written down before the host is touched.

One JSON object per line, appended and fsync'd:

    {"op": "prepared", "id": ..., "fault": ..., "undo": {...}, "request": {...}, "at": ...}
    {"op": "applied",  "id": ..., "undo": {...}, "at": ...}
    {"op": "reverted", "id": ..., "at": ...}

A fault is *pending* from its ``prepared`` line until its ``reverted`` line. On
start the agent reverts every pending fault. A torn or corrupt line (a crash in
the middle of a write) is skipped and counted, never fatal: the ``prepared`` line
of a fault is fsync'd before the host changes, so a torn line means the host was
not touched for that write.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"


@dataclass
class PendingFault:
    id: str
    fault: str
    undo: dict[str, Any]
    request: dict[str, Any] = field(default_factory=dict)
    applied: bool = False


class UndoJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / JOURNAL_FILE
        self.corrupt_lines = 0
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # ------------------------------------------------------------ writing

    def prepared(
        self, *, fault_id: str, fault: str, undo: dict[str, Any], request: dict[str, Any]
    ) -> None:
        self._append(
            {"op": "prepared", "id": fault_id, "fault": fault, "undo": undo, "request": request}
        )

    def applied(self, *, fault_id: str, undo: dict[str, Any]) -> None:
        self._append({"op": "applied", "id": fault_id, "undo": undo})

    def reverted(self, *, fault_id: str) -> None:
        self._append({"op": "reverted", "id": fault_id})

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps({**record, "at": time.time()}, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    # ------------------------------------------------------------ reading

    def pending(self) -> list[PendingFault]:
        """Faults prepared and not yet reverted, in the order they were prepared."""
        faults: dict[str, PendingFault] = {}
        for record in self._records():
            fault_id = str(record.get("id", ""))
            op = record.get("op")
            if op == "prepared" and isinstance(record.get("undo"), dict):
                faults[fault_id] = PendingFault(
                    id=fault_id,
                    fault=str(record.get("fault", "")),
                    undo=record["undo"],
                    request=record.get("request") or {},
                )
            elif op == "applied" and fault_id in faults and isinstance(record.get("undo"), dict):
                faults[fault_id].undo = record["undo"]
                faults[fault_id].applied = True
            elif op == "reverted":
                faults.pop(fault_id, None)
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
        self.corrupt_lines = corrupt
        return records

    def compact(self) -> None:
        """Rewrite the journal with only what is still pending (atomically: tmp + rename)."""
        with self._lock:
            pending = self.pending()
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for item in pending:
                    record = {
                        "op": "prepared",
                        "id": item.id,
                        "fault": item.fault,
                        "undo": item.undo,
                        "request": item.request,
                        "at": time.time(),
                    }
                    os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # make the rename itself durable
            finally:
                os.close(dir_fd)
