"""One way to start a run, whoever starts it: ``chaos run``, the controller service, a
schedule or a game day. Each builds a :class:`RunSettings` once and calls
:func:`prepare_run` per experiment; the run is recorded in the store, its events go to
the subscribers given (a live view, webhooks, ...), and a halt requested through the
store (``chaos halt RUN`` from any terminal, or the service's API) reverts it at once.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.controller.agent_client import AgentCredentials
from chaos.controller.agent_executor import AgentExecutor, RoutingExecutor
from chaos.controller.engine import RunEngine
from chaos.controller.events import Event, EventBus, EventKind
from chaos.controller.executor import LocalExecutor
from chaos.controller.ledger import describe
from chaos.controller.verdict import RunResult
from chaos.faults import CATALOG
from chaos.spec.models import Experiment
from chaos.store.repository import RunStore
from chaos.targets import Scope, default_backends

log = logging.getLogger(__name__)

HALT_POLL_S = 0.1  # how often a run looks for a halt request in the store


@dataclass(frozen=True)
class RunSettings:
    """Where runs may reach and how, fixed by whoever runs the controller."""

    scope: Scope = field(default_factory=Scope)
    credentials: AgentCredentials = field(default_factory=AgentCredentials)
    home: Path = Path(".")  # $CHAOS_HOME: each run's Locust logs go to home/runs/<run id>
    load_log_dir: Path | None = None


@dataclass
class PreparedRun:
    run_id: str
    engine: RunEngine
    bus: EventBus
    store: RunStore

    def run(self) -> RunResult:
        """Run to the verdict, watching the store for halt requests meanwhile."""
        watcher = HaltWatcher(self.store, self.run_id, self.engine.request_abort)
        watcher.start()
        try:
            return self.engine.run()
        finally:
            watcher.stop()


def prepare_run(
    experiment: Experiment,
    *,
    source: str,
    store: RunStore,
    settings: RunSettings,
    subscribers: Iterable[Callable[[Event], None]] = (),
    seed: int | None = None,
    run_id: str | None = None,
) -> PreparedRun:
    run_id = run_id or uuid.uuid4().hex[:12]
    bus = EventBus(redact=experiment.redact if experiment.secrets else None)
    bus.subscribe(store.recorder())
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    backends = default_backends(experiment)
    agents = AgentExecutor(
        credentials=settings.credentials,
        lease_ttl_s=experiment.spec.safety.lease_ttl,
        on_lease_lost=lambda applied: bus.emit(
            EventKind.LEASE_LOST,
            run_id=run_id,
            phase=None,
            message=f"{describe(applied.planned)}: the agent no longer holds it (reverted there)",
        ),
    )
    engine = RunEngine(
        experiment=experiment,
        bus=bus,
        executor=RoutingExecutor(local=LocalExecutor(backends=backends), agents=agents),
        backends=backends,
        catalog=CATALOG,
        scope=settings.scope,
        source=source,
        run_id=run_id,
        rng=random.Random(seed),
        workdir=settings.home / "runs" / run_id,
        load_log_dir=settings.load_log_dir,
    )
    return PreparedRun(run_id=run_id, engine=engine, bus=bus, store=store)


class HaltWatcher:
    """Polls the store for halt requests of one run; each new one halts it (a second one
    also skips the recovery measurement, as a second Ctrl-C does)."""

    def __init__(
        self, store: RunStore, run_id: str, halt: Callable[[str], None], poll_s: float = HALT_POLL_S
    ) -> None:
        self._store, self._run_id, self._halt, self._poll_s = store, run_id, halt, poll_s
        self._stop = threading.Event()
        self._last = 0
        self._thread = threading.Thread(target=self._loop, name=f"halt-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                requests = self._store.halts_after(self._run_id, self._last)
            except Exception as exc:  # a store hiccup must not end the watch
                log.warning("cannot read halt requests of %s: %r", self._run_id, exc)
                continue
            for request_id, reason in requests:
                self._last = request_id
                self._halt(f"operator halt ({reason or 'chaos halt'})")
