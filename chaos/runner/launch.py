"""One way to start a run, whoever starts it: ``chaos run``, the controller service, a
schedule or a game day. Each builds a :class:`RunSettings` once and calls
:func:`prepare_run` per experiment; the run is recorded in the store, its events go to
the subscribers given (a live view, webhooks, ...), and a halt requested through the
store (``chaos halt RUN`` from any terminal, or the service's API) reverts it at once.

The store is part of the run's safety: a run it cannot record, or whose halt requests
it cannot read, is aborted, every fault reverted, and ends exit 4.
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
from chaos.controller.events import Event, EventBus
from chaos.controller.executor import LocalExecutor
from chaos.controller.verdict import RunResult
from chaos.errors import UsageError
from chaos.faults import CATALOG
from chaos.spec.models import Experiment
from chaos.store.repository import RunStore
from chaos.targets import Scope, default_backends

log = logging.getLogger(__name__)

HALT_POLL_S = 0.1  # how often a run looks for a halt request in the store
# consecutive failed polls after which a halt could no longer reach the run: it aborts
HALT_POLL_FAILURES = 10


@dataclass(frozen=True)
class RunSettings:
    """Where runs may reach and how, fixed by whoever runs the controller."""

    scope: Scope = field(default_factory=Scope)
    credentials: AgentCredentials = field(default_factory=AgentCredentials)
    home: Path = Path(".")  # $CHAOS_HOME: each run's Locust logs go to home/runs/<run id>
    load_log_dir: Path | None = None
    # False on a controller service not started with --allow-command-probes: a command
    # probe runs a program as the controller's user, so whoever may submit runs must not
    command_probes: bool = True


@dataclass
class PreparedRun:
    run_id: str
    engine: RunEngine
    bus: EventBus
    store: RunStore

    def run(self) -> RunResult:
        """Run to the verdict, watching the store for halt requests meanwhile."""
        watcher = HaltWatcher(
            self.store,
            self.run_id,
            self.engine.request_abort,
            on_failure=self.engine.store_failed,
        )
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
    if not settings.command_probes:
        refuse_command_probes(experiment)
    run_id = run_id or uuid.uuid4().hex[:12]
    bus = EventBus(redact=experiment.redact if experiment.secrets else None)
    bus.subscribe(store.recorder(), recorder=True)
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    backends = default_backends(experiment)
    agents = AgentExecutor(
        credentials=settings.credentials,
        lease_ttl_s=experiment.spec.safety.lease_ttl,
        # a lambda: the engine is made below; the lease keeper only calls this once a
        # fault is applied, from its own thread
        on_lease_lost=lambda applied, why: engine.lease_lost(applied, why),  # noqa: PLW0108
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


def refuse_command_probes(experiment: Experiment) -> None:
    """UsageError naming every command probe (where they are off)."""
    named = [probe.name for probe in experiment.spec.steady_state.probes if probe.command]
    if named:
        raise UsageError(
            f"command probes are off on this controller (start it with --allow-command-probes"
            f" to allow them): probe {', '.join(repr(name) for name in named)} runs a command"
        )


class HaltWatcher:
    """Polls the store for halt requests of one run; each new one halts it (a second one
    also skips the recovery measurement, as a second Ctrl-C does)."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        halt: Callable[[str], None],
        *,
        on_failure: Callable[[str], None],
        poll_s: float = HALT_POLL_S,
        failures: int = HALT_POLL_FAILURES,
    ) -> None:
        self._store, self._run_id, self._halt, self._poll_s = store, run_id, halt, poll_s
        self._on_failure, self._failures = on_failure, failures
        self._stop = threading.Event()
        self._last = 0
        self._thread = threading.Thread(target=self._loop, name=f"halt-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        failed = 0
        while not self._stop.wait(self._poll_s):
            try:
                requests = self._store.halts_after(self._run_id, self._last)
            except Exception as exc:  # one hiccup is retried; a lasting failure aborts
                failed += 1
                detail = getattr(exc, "message", None) or repr(exc)
                log.warning("cannot read halt requests of %s: %s", self._run_id, detail)
                if failed == self._failures:
                    self._on_failure(
                        f"halt requests cannot be read from the run store ({detail}): "
                        "an operator's halt could not reach this run"
                    )
                continue
            failed = 0
            for request_id, reason in requests:
                self._last = request_id
                self._halt(f"operator halt ({reason or 'chaos halt'})")
