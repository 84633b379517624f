"""The undo journal as the agent service writes it, when the disk may refuse.

A write the disk refuses (ENOSPC, EIO, EROFS) must never stop the agent from
reverting: before anything is applied it refuses the fault; after a fault is applied
it takes the fault back; after a revert the host stays reverted and only the missing
"reverted" line is kept and retried. The last error shows in ``/v1/health`` until
every missing line has been written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from chaos.agent.journal import UndoJournal
from chaos.agent.metrics import AgentMetrics
from chaos.errors import FaultError
from chaos.faults.base import FaultRequest, FaultType, Undo

log = logging.getLogger(__name__)


class JournalWrites:
    def __init__(self, journal: UndoJournal, *, metrics: AgentMetrics, node: str) -> None:
        self.journal = journal
        self._metrics = metrics
        self._node = node
        self._lock = threading.Lock()
        self._unwritten_reverts: set[str] = set()  # reverted on the host, line not written
        self._error: str | None = None

    def compact(self) -> None:
        try:
            self.journal.compact()
        except OSError as exc:  # the journal stays valid as it was
            self._note_error("compact", exc)

    def prepared(
        self,
        fault: FaultType,
        request: FaultRequest,
        undo: Undo,
        raw: Mapping[str, Any],
        *,
        lease_until: float,
    ) -> None:
        try:
            self.journal.prepared(
                fault_id=request.fault_id,
                fault=fault.name,
                undo=undo.to_json(),
                request=dict(raw),
                lease_until=lease_until,
            )
        except OSError as exc:  # nothing touched yet: refuse rather than apply unjournaled
            self._note_error("prepare", exc)
            raise self._refusal(fault, exc, "nothing was applied") from exc
        self._written()

    def applied(self, fault: FaultType, request: FaultRequest, undo: Undo) -> None:
        try:
            self.journal.applied(fault_id=request.fault_id, undo=undo.to_json())
        except OSError as exc:  # the caller takes the fault back
            self._note_error("apply", exc)
            raise self._refusal(fault, exc, "the fault was taken back") from exc
        self._written()

    def renewed(self, fault_ids: Iterable[str], *, lease_until: float) -> None:
        for fault_id in fault_ids:
            try:
                self.journal.renew_lease(fault_id=fault_id, lease_until=lease_until)
            except OSError as exc:  # the in-memory lease still holds; health shows it
                self._note_error("renew", exc)

    def reverted(self, fault_id: str) -> None:
        """Write the "reverted" line; if the disk refuses, the host stays reverted and only
        the line is retried (a restart would revert it again, which is harmless)."""
        try:
            self.journal.reverted(fault_id=fault_id)
        except OSError as exc:
            self._note_error("revert", exc)
            with self._lock:
                self._unwritten_reverts.add(fault_id)
            return
        with self._lock:
            self._unwritten_reverts.discard(fault_id)
        self._written()

    def retry_unwritten(self) -> None:
        with self._lock:
            missing = list(self._unwritten_reverts)
        for fault_id in missing:
            self.reverted(fault_id)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"error": self._error, "unwritten_reverts": sorted(self._unwritten_reverts)}

    def _refusal(self, fault: FaultType, exc: OSError, outcome: str) -> FaultError:
        return FaultError(
            f"{fault.name}: the agent's journal cannot be written ({exc.strerror}); {outcome}",
            node=self._node,
        )

    def _written(self) -> None:
        """A write went through: the error clears once no revert line is missing."""
        with self._lock:
            if not self._unwritten_reverts:
                self._error = None

    def _note_error(self, what: str, exc: OSError) -> None:
        with self._lock:
            self._error = f"{what}: {exc.strerror or exc.__class__.__name__}"
        self._metrics.journal_errors += 1
        log.error("journal %s: %s failed: %s", self.journal.directory, what, exc)
