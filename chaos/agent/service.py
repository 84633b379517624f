"""The node agent's logic, without HTTP: faults with leases, the journal, recovery.

Safety model:
- every fault is journaled (fsync) before the host is touched;
- every fault has a lease; when the controller stops renewing it (crash,
  SIGKILL, partition), the reaper reverts it at expiry;
- on start, everything the journal lists as still applied is reverted;
- on SIGTERM (``shutdown``), everything is reverted before exit;
- a revert that fails stays pending and is retried; it is reported in health;
- the reaper survives every error (a journal that cannot be written included): a
  revert whose journal line failed is not re-applied, its line is retried; a dead or
  late reaper shows in health and ``reaper_failed`` tells the serve loop to exit 4;
- each lease also lives on disk (``leases/<hash of the id>``, mtime = wall-clock expiry) so the
  watchdog (chaos.agent.watchdog) and the fault's helper processes end with the
  lease even if this process is SIGKILLed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chaos import __version__
from chaos.agent import guards
from chaos.agent.journal import UndoJournal
from chaos.agent.journal_writes import JournalWrites
from chaos.agent.metrics import AgentMetrics
from chaos.agent.reaper import Reaper
from chaos.agent.scope import ScopePolicy
from chaos.errors import ChaosError, FaultError
from chaos.faults import pinning, wire
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo, Where
from chaos.host import procfs

log = logging.getLogger(__name__)

MAX_TTL_S = 3600.0
RETRY_STUCK_EVERY_S = 5.0


class RevertOutcome(StrEnum):
    REVERTED = "reverted"
    NOT_FOUND = "not-found"
    FAILED = "failed"


class Conflict(FaultError):
    """The fault id was already used for another fault on this agent."""


class Gone(FaultError):
    """The target no longer exists (e.g. the process exited or its PID was reused)."""


@dataclass
class ActiveFault:
    id: str
    fault: FaultType
    request: FaultRequest
    undo: Undo
    expires_at: float  # time.monotonic()
    applied_at: float = field(default_factory=time.time)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.fault.name,
            "target": self.request.target.display,
            "backend": self.undo.backend,
            "detail": self.undo.detail,
            "applied_at": self.applied_at,
            "expires_in_s": round(max(0.0, self.expires_at - time.monotonic()), 3),
        }


class AgentService:
    def __init__(
        self,
        *,
        node: str,
        journal: UndoJournal,
        catalog: Mapping[str, FaultType],
        host: HostContext,
        scope: ScopePolicy | None = None,
    ) -> None:
        self.node = node
        self.scope = scope or ScopePolicy()  # empty: every fault is refused
        self.journal = journal
        self.metrics = AgentMetrics()
        self._catalog = catalog
        self._host = host
        self._lock = threading.RLock()
        self._active: dict[str, ActiveFault] = {}
        self._stuck: dict[str, tuple[str, Undo]] = {}  # id -> (fault name, undo) not reverted
        self._used_ids: set[str] = set()
        self._writes = JournalWrites(journal, metrics=self.metrics, node=node)
        self._last_retry = time.monotonic()
        # woken when a lease is added, so it re-plans its sleep
        self._reaper = Reaper(tick=self._reap_once, next_wake=self._next_wake, name="lease-reaper")
        self.reaper_failed = self._reaper.failed  # the reaper died: the agent must exit

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Revert whatever a previous life left applied, then start the lease reaper."""
        for pending in self.journal.pending():
            undo = Undo.from_json(pending.undo)
            log.warning("reverting fault %s (%s) left by a previous run", pending.id, undo.fault)
            self._revert_undo(pending.id, undo, reason="startup")
        self._writes.compact()
        self.metrics.journal_corrupt_lines = self.journal.corrupt_lines
        self._reaper.start()

    def shutdown(self) -> None:
        """Revert everything, then stop (SIGTERM)."""
        self._reaper.stop(timeout=0)
        self.revert_all(reason="shutdown")
        self._reaper.stop()

    def exempt_control_port(self, port: int) -> None:
        """Tell fault drivers which port is the agent's own API (set once, at start)."""
        self._host = dataclasses.replace(self._host, control_ports=(port,))

    # ------------------------------------------------------------ API

    def apply(self, raw: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Apply a fault from its wire form; (created, description). Idempotent per id."""
        fault, request = wire.request_from_json(raw, catalog=self._catalog)
        ttl = _lease_ttl(request.ttl_s)
        with self._lock:
            existing = self._active.get(request.fault_id)
            if existing is not None:
                return False, existing.describe()
            if request.fault_id in self._used_ids:
                raise Conflict(f"fault id {request.fault_id} was already used", node=self.node)
            self._used_ids.add(request.fault_id)
        try:
            request = self._admit(fault, request)
            undo = fault.prepare(request, self._host)
        except (guards.Refused, guards.OutOfScope):
            with self._lock:  # refused before anything happened: the id stays free
                self._used_ids.discard(request.fault_id)
            self.metrics.requests_refused += 1
            raise
        except FaultError:
            raise
        except ChaosError as exc:  # a host or target error: the agent's answer is a fault's
            raise FaultError(exc.message, target=request.target.display, node=self.node) from exc
        except Exception as exc:  # a bug in a driver's prepare: an answer, not a 500
            log.exception("prepare of %s %s failed", fault.name, request.fault_id)
            raise FaultError(
                f"{fault.name}: could not prepare the fault ({type(exc).__name__})", node=self.node
            ) from exc
        self._writes.prepared(fault, request, undo, raw, lease_until=time.time() + ttl)
        try:
            undo = fault.apply(request, undo, self._host)
            # inside the try: a fault whose journal line cannot be written is taken back
            self._writes.applied(fault, request, undo)
        except Exception as exc:
            # whatever half happened is undone before the error is reported
            self._revert_undo(request.fault_id, undo, reason="failed-apply")
            self.metrics.apply_failures += 1
            if isinstance(exc, ChaosError):
                raise FaultError(
                    exc.message, target=request.target.display, node=self.node
                ) from exc
            log.error("apply of %s %s failed: %r", fault.name, request.fault_id, exc)
            reason = f"{type(exc).__name__}: {exc}"[:300]  # the message, not a repr
            raise FaultError(f"{fault.name} failed: {reason}", node=self.node) from exc
        active = ActiveFault(request.fault_id, fault, request, undo, time.monotonic() + ttl)
        with self._lock:
            self._active[request.fault_id] = active
        self._reaper.wake()
        self.metrics.applied(fault.name)
        log.info(
            "applied %s %s on %s: %s",
            fault.name,
            request.fault_id,
            request.target.display,
            undo.detail,
        )
        return True, active.describe()

    def renew(self, ids: Any, ttl_s: Any) -> dict[str, list[str]]:
        body = wire.renew_from_json({"ids": ids, "ttl_s": ttl_s})
        ids, ttl = body.ids, _lease_ttl(body.ttl_s)
        renewed, unknown = [], []
        with self._lock:
            for fault_id in ids:
                active = self._active.get(fault_id)
                if active is None:
                    unknown.append(fault_id)
                    continue
                active.expires_at = time.monotonic() + ttl
                renewed.append(fault_id)
        self._writes.renewed(renewed, lease_until=time.time() + ttl)
        self.metrics.renewals += len(renewed)
        return {"renewed": renewed, "unknown": unknown}

    def revert(self, fault_id: str, *, reason: str = "request") -> RevertOutcome:
        """Revert one fault. NOT_FOUND: not active here (never applied, or already reverted)."""
        with self._lock:
            active = self._active.pop(fault_id, None)
            stuck = self._stuck.get(fault_id)
        if active is not None:
            undo = active.undo
        elif stuck is not None:
            undo = stuck[1]  # a revert that failed before: try again now
        else:
            return RevertOutcome.NOT_FOUND
        ok = self._revert_undo(fault_id, undo, reason=reason)
        return RevertOutcome.REVERTED if ok else RevertOutcome.FAILED

    def revert_all(self, *, reason: str = "request") -> dict[str, list[str]]:
        with self._lock:
            ids = list(self._active) + [fid for fid in self._stuck if fid not in self._active]
        done, failed = [], []
        for fault_id in reversed(ids):
            outcome = self.revert(fault_id, reason=reason)
            (done if outcome is RevertOutcome.REVERTED else failed).append(fault_id)
        return {"reverted": done, "failed": failed}

    def list_active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [active.describe() for active in self._active.values()]

    def health(self) -> dict[str, Any]:
        with self._lock:
            stuck = sorted(self._stuck)
            active = len(self._active)
        return {
            "version": __version__,
            "node": self.node,
            "capabilities": dict(self._host.capabilities),
            "active": active,
            "stuck": stuck,
            "journal_corrupt_lines": self.journal.corrupt_lines,
            "journal": self._writes.describe(),
            "reaper": self._reaper.describe(),
            "scope": self.scope.describe(),
        }

    def reaper_problem(self) -> str | None:
        """Why the lease reaper cannot be trusted right now ("dead", "late"), else None."""
        return self._reaper.problem()

    # ------------------------------------------------------------ internals

    def _admit(self, fault: FaultType, request: FaultRequest) -> FaultRequest:
        """The request with its target resolved here, once the guards have let it through.

        A container's or pod's PID is never taken from the request: the agent asks the
        runtime itself, so a request cannot name PID 1 and call it a container. Nor is a
        Docker API URL: the agent talks to its own node's Docker only.
        """
        guards.check_kind(fault, request.target, node=self.node)
        if fault.where is Where.RUNTIME and request.target.attributes.get("docker_url"):
            # the node's own Docker ($DOCKER_HOST or its socket), never a URL from the request
            local = {**request.target.attributes, "docker_url": ""}
            request = dataclasses.replace(
                request, target=dataclasses.replace(request.target, attributes=local)
            )
        if fault.where is Where.NODE:
            if request.target.kind in pinning.CONTAINER_KINDS:
                unpinned = dataclasses.replace(request.target, pid=None, start_time=None)
                request = dataclasses.replace(request, target=unpinned)
            try:
                request = pinning.pin(request, node=self.node)
            except pinning.ContainerGone as exc:
                raise Gone(exc.message, node=self.node, target=exc.target) from exc
        self._check_target(fault, request)
        guards.check(fault, request, scope=self.scope, node=self.node)
        return request

    def _check_target(self, fault: FaultType, request: FaultRequest) -> None:
        target = request.target
        if target.pid is None or target.start_time is None:
            return
        if not procfs.is_alive(procfs.ProcessIdentity(target.pid, target.start_time)):
            raise Gone(
                f"{fault.name}: target {target.display} is gone",
                node=self.node,
                target=target.display,
            )

    def _revert_undo(self, fault_id: str, undo: Undo, *, reason: str) -> bool:
        fault = self._catalog.get(undo.fault)
        try:
            if fault is None:
                raise FaultError(f"unknown fault {undo.fault!r} in the journal")
            fault.revert(undo, self._host)
        except Exception as exc:  # keep it pending and retry: never forget a fault
            log.error("revert of %s (%s) failed: %r", fault_id, undo.fault, exc)
            with self._lock:
                self._stuck[fault_id] = (undo.fault, undo)
            self.metrics.revert_failures += 1
            return False
        with self._lock:
            self._stuck.pop(fault_id, None)
        self._writes.reverted(fault_id)
        self.metrics.reverted(reason)
        log.info("reverted %s (%s): %s", fault_id, undo.fault, reason)
        return True

    def _next_wake(self) -> float:
        """Sleep until the earliest lease expiry (at most 1 s): an idle agent barely wakes."""
        with self._lock:
            earliest = min((a.expires_at for a in self._active.values()), default=None)
            busy = bool(self._stuck)
        if earliest is None:
            return 1.0 if not busy else 0.5
        return min(1.0, max(0.005, earliest - time.monotonic()))

    def _reap_once(self) -> None:
        """Revert expired leases; every RETRY_STUCK_EVERY_S also retry failed reverts and
        journal lines that could not be written."""
        now = time.monotonic()
        with self._lock:
            expired = [fid for fid, a in self._active.items() if a.expires_at <= now]
        for fault_id in expired:
            log.warning("lease of %s expired: reverting", fault_id)
            self.revert(fault_id, reason="lease-expired")
        if now - self._last_retry < RETRY_STUCK_EVERY_S:
            return
        self._last_retry = now
        with self._lock:
            stuck = list(self._stuck.items())
        for fault_id, (_, undo) in stuck:
            self._revert_undo(fault_id, undo, reason="retry")
        self._writes.retry_unwritten()


def _lease_ttl(ttl_s: float | None) -> float:
    if ttl_s is None or not 0 < ttl_s <= MAX_TTL_S:
        raise FaultError(f"lease ttl must be between 0 and {MAX_TTL_S:g} seconds, got {ttl_s}")
    return float(ttl_s)
