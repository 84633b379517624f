"""Faults executed by node agents, kept alive by leases the controller renews.

Every fault is applied with a lease of ``lease_ttl_s``; a background thread
renews all of an agent's leases in one request every third of that. If this
process dies, or cannot reach the agent, renewals stop and the agent reverts
the fault when the lease expires -- if the agent (or its watchdog) still runs.
When the agent cannot be reached, the messages say only what is known: which fault
may still be in place, on which node, when its lease ends, and how to clear it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from chaos.controller.agent_client import AgentClient, AgentCredentials
from chaos.controller.executor import AppliedFault, Executor, request_for
from chaos.errors import AgentError, AgentUnreachable, FaultError, RevertError
from chaos.faults import wire
from chaos.faults.base import Undo, Where
from chaos.plan.planner import PlannedFault

log = logging.getLogger(__name__)

AGENT_ATTRIBUTE = "agent"


class AgentExecutor:
    def __init__(
        self,
        *,
        credentials: AgentCredentials,
        lease_ttl_s: float,
        on_lease_lost: Callable[[AppliedFault, str | None], None] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.lease_ttl_s = lease_ttl_s
        self._credentials = credentials
        self._timeout = timeout_s
        # (fault, None): the agent no longer holds it; (fault, why): its lease ran out here
        self._on_lease_lost = on_lease_lost or (lambda applied, why: None)
        self._lock = threading.Lock()
        self._clients: dict[str, AgentClient] = {}
        self._leases: dict[str, dict[str, AppliedFault]] = {}  # agent URL -> fault id -> fault
        self._renewed_at: dict[str, float] = {}  # agent URL -> wall time of its last renewal
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # ------------------------------------------------------------ Executor

    def apply(self, fault: PlannedFault, *, ttl_s: float | None) -> AppliedFault:
        url = agent_url(fault)
        request = request_for(fault, ttl_s=self.lease_ttl_s)
        try:
            answer = self.client(url).apply(wire.request_to_json(request, fault=fault.fault.name))
        except AgentError as exc:
            message = exc.message
            if isinstance(exc, AgentUnreachable):
                # the request may have reached the agent and only the answer was lost: ask
                # it to revert (idempotent by id); failing that, its lease expires unrenewed
                try:
                    self.client(url).revert(fault.fault_id)
                except AgentError:
                    ends = time.time() + self.lease_ttl_s
                    message += "; if the agent applied it, " + still_in_place(fault, ends)
            raise FaultError(
                message, step=fault.step_path, target=fault.target_name, node=fault.target.node
            ) from exc
        undo = Undo(
            fault=fault.fault.name,
            data={"agent": url, "id": fault.fault_id},
            detail=str(answer.get("detail", "")),
            backend=str(answer.get("backend", "")),
        )
        applied = AppliedFault(planned=fault, undo=undo, applied_at=time.time())
        with self._lock:
            self._leases.setdefault(url, {})[fault.fault_id] = applied
        self._start_keeper()
        return applied

    def revert(self, applied: AppliedFault) -> None:
        fault = applied.planned
        url = str(applied.undo.data["agent"])
        with self._lock:
            self._leases.get(url, {}).pop(fault.fault_id, None)
            renewed = max(applied.applied_at, self._renewed_at.get(url, 0.0))
        try:
            self.client(url).revert(fault.fault_id)
        except AgentError as exc:
            raise RevertError(
                f"{exc.message}; {still_in_place(fault, renewed + self.lease_ttl_s)}",
                step=fault.step_path,
                target=fault.target_name,
                node=fault.target.node,
            ) from exc

    def close(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=self._timeout + 1)
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.close()

    # ------------------------------------------------------------ leases

    def client(self, url: str) -> AgentClient:
        with self._lock:
            if url not in self._clients:
                self._clients[url] = AgentClient(
                    url, credentials=self._credentials, timeout=self._timeout
                )
            return self._clients[url]

    def _start_keeper(self) -> None:
        with self._lock:
            if self._keeper is None:
                self._keeper = threading.Thread(
                    target=self._renew_loop, name="lease-keeper", daemon=True
                )
                self._keeper.start()

    def _renew_loop(self) -> None:
        interval = max(0.1, self.lease_ttl_s / 3)
        with ThreadPoolExecutor(max_workers=32, thread_name_prefix="renew") as pool:
            while not self._stop.wait(interval):
                with self._lock:
                    batches = {url: dict(leases) for url, leases in self._leases.items() if leases}
                list(pool.map(lambda item: self._renew(*item), batches.items()))

    def _renew(self, url: str, leases: dict[str, AppliedFault]) -> None:
        started = time.time()  # the new leases run from no earlier than the request
        try:
            answer = self.client(url).renew(list(leases), ttl_s=self.lease_ttl_s)
        except AgentError as exc:
            # keep trying; but a lease not renewed for its TTL has run out, whatever the
            # agent does now: the fault was not held for its duration
            log.warning("renewing %d lease(s) on %s failed: %s", len(leases), url, exc.message)
            why = f"its lease ran out: the agent could not be reached to renew it ({exc.message})"
            for applied in self._expired(url, leases, now=time.time()):
                self._on_lease_lost(applied, why)
            return
        with self._lock:
            self._renewed_at[url] = started
        for fault_id in answer.get("unknown", []):
            applied = leases.get(fault_id)
            with self._lock:
                still_ours = self._leases.get(url, {}).pop(fault_id, None) is not None
            if applied is not None and still_ours:
                self._on_lease_lost(applied, None)

    def _expired(
        self, url: str, leases: dict[str, AppliedFault], *, now: float
    ) -> list[AppliedFault]:
        """The leases of ``leases`` not renewed for a whole TTL, taken off the renewals."""
        expired = []
        with self._lock:
            renewed = self._renewed_at.get(url, 0.0)
            held = self._leases.get(url, {})
            for fault_id, applied in leases.items():
                ran_out = max(applied.applied_at, renewed) + self.lease_ttl_s < now
                if ran_out and held.pop(fault_id, None) is not None:
                    expired.append(applied)
        return expired


def still_in_place(fault: PlannedFault, lease_ends_at: float) -> str:
    """What is known of a fault the agent could not be told to revert, and how to clear
    it: nothing here can promise that it goes away by itself."""
    node = fault.target.node or "its node"
    ends = time.strftime("%H:%M:%S UTC", time.gmtime(lease_ends_at))
    return (
        f"fault {fault.fault_id} ({fault.label} on {fault.target.display}) may still be in "
        f"place on node {node}: its lease ends at about {ends}, when the agent's watchdog reverts "
        f"it if one runs there (`chaos agent serve` starts it; see watchdog.log in the "
        f"agent's journal directory); otherwise restart the agent on {node}: it reverts "
        "its journal at start"
    )


def agent_url(fault: PlannedFault) -> str:
    url = fault.target.attributes.get(AGENT_ATTRIBUTE)
    if not url:
        raise FaultError(f"no agent known for {fault.target.display}", node=fault.target.node)
    return url


class RoutingExecutor:
    """Faults on targets served by a node agent go to it; the others run in this process."""

    def __init__(self, *, local: Executor, agents: AgentExecutor) -> None:
        self._local = local
        self._agents = agents

    def apply(self, fault: PlannedFault, *, ttl_s: float | None) -> AppliedFault:
        by_agent = fault.fault.where in (Where.NODE, Where.RUNTIME)
        if by_agent and AGENT_ATTRIBUTE in fault.target.attributes:
            return self._agents.apply(fault, ttl_s=ttl_s)
        return self._local.apply(fault, ttl_s=ttl_s)

    def revert(self, applied: AppliedFault) -> None:
        if AGENT_ATTRIBUTE in applied.undo.data:
            self._agents.revert(applied)
        else:
            self._local.revert(applied)

    def close(self) -> None:
        self._agents.close()
        self._local.close()
