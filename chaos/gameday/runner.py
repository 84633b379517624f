"""Running a game day: its steps in order, each experiment through the same launcher as
``chaos run``, each hold through the operator, everything recorded in the store.

What ends a game day early:

- an experiment that fails, aborts or cannot run, unless its step says
  ``continueOnFailure`` (an *operator* halt ends it whatever the step says);
- an operator halt: :meth:`GameDayRunner.halt` (the CLI maps Ctrl-C and SIGTERM to
  it) aborts the running experiment at once, and ``chaos halt RUN`` from another
  terminal does the same through the store (the launcher's halt watcher); either
  way the run reverts everything and the game day stops after it;
- "stop" at a hold.

The exit code is the first failing step's (1 failed, 3 aborted or halted, 4 error),
else 0. Where the game day is shown (live view, lines, nothing) is up to the
observer given; the runner only tells it what happens.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chaos.controller.events import Event, EventKind, RunStatus
from chaos.controller.verdict import AbortKind
from chaos.errors import ChaosError, ExitCode
from chaos.runner.launch import PreparedRun, RunSettings, prepare_run
from chaos.spec.gameday import ExperimentStep, GameDayPlan, HoldStep, PlannedStep
from chaos.store import gamedays as book
from chaos.store.gamedays import GameDayStatus, StepPlan, StepStatus
from chaos.store.repository import RunStore

OPERATOR_HALT = "operator halt"  # how a halted run's reason starts (launcher and CLI alike)

_STEP_STATUS = {
    RunStatus.PASSED: StepStatus.PASSED,
    RunStatus.FAILED: StepStatus.FAILED,
    RunStatus.ABORTED: StepStatus.ABORTED,
    RunStatus.ERROR: StepStatus.ERROR,
}
_GAMEDAY_STATUS = {
    StepStatus.FAILED: GameDayStatus.FAILED,
    StepStatus.ABORTED: GameDayStatus.ABORTED,
    StepStatus.ERROR: GameDayStatus.ERROR,
}


class HoldGate(Protocol):
    """Decides a hold: True to go on, False to end the game day."""

    def wait(self, step: PlannedStep, hold: HoldStep) -> bool: ...


class GameDayObserver(Protocol):
    """What the runner tells whoever shows the game day (chaos.report.gameday_view)."""

    def gameday_started(self, plan: GameDayPlan, gameday_id: str) -> None: ...

    def step_started(self, step: PlannedStep, total: int) -> None: ...

    def run_subscriber(self, step: PlannedStep, run_id: str) -> Callable[[Event], None]: ...

    def step_ended(
        self, step: PlannedStep, status: StepStatus, exit_code: int | None, reason: str
    ) -> None: ...


@dataclass(frozen=True)
class GameDayResult:
    gameday_id: str
    status: GameDayStatus
    exit_code: ExitCode
    reason: str


@dataclass(frozen=True)
class _StepOutcome:
    status: StepStatus
    exit_code: ExitCode | None = None
    reason: str = ""
    halted: bool = False  # an operator ended it: the game day ends whatever the step says


class GameDayRunner:
    def __init__(
        self,
        plan: GameDayPlan,
        *,
        store: RunStore,
        settings: RunSettings,
        gate: HoldGate,
        observer: GameDayObserver,
        subscribers: Sequence[Callable[[Event], None]] = (),
        seed: int | None = None,
        gameday_id: str | None = None,
    ) -> None:
        self.plan, self.gameday_id = plan, gameday_id or uuid.uuid4().hex[:12]
        self._store, self._settings, self._gate, self._observer = store, settings, gate, observer
        self._subscribers = tuple(subscribers)  # every run's too (webhooks, ...)
        self._seed = seed
        self._current: PreparedRun | None = None
        self._halt_reason: str | None = None
        self._halt_delivered_to: str | None = None  # the run halt() already aborted

    def halt(self, reason: str) -> None:
        """End the game day: the running experiment (if any) reverts everything at once.

        Safe from a signal handler: it sets a flag and asks the engine to abort, which
        only sets flags the run loop waits on. Again: the recovery measurement is cut."""
        if self._halt_reason is None:
            self._halt_reason = reason
        current = self._current
        if current is not None:
            current.engine.request_abort(f"{OPERATOR_HALT} ({reason})")
            self._halt_delivered_to = current.run_id

    @property
    def halted(self) -> bool:
        return self._halt_reason is not None

    def run(self) -> GameDayResult:
        self._begin()
        self._observer.gameday_started(self.plan, self.gameday_id)
        first_failure: tuple[StepStatus, ExitCode, str] | None = None
        status, reason = GameDayStatus.PASSED, ""
        try:
            for step in self.plan.steps:
                if self._halt_reason is not None:
                    status, reason = GameDayStatus.HALTED, f"{OPERATOR_HALT} ({self._halt_reason})"
                    break
                outcome = self._run_step(step)
                failed = outcome.exit_code not in (None, ExitCode.PASSED)
                if failed and first_failure is None:
                    assert outcome.exit_code is not None
                    first_failure = (outcome.status, outcome.exit_code, outcome.reason)
                if outcome.halted:
                    status, reason = GameDayStatus.HALTED, outcome.reason
                    break
                if failed and not _continues(step):
                    break
        except BaseException as exc:
            self._finish(GameDayStatus.ERROR, ExitCode.ERROR, f"game day crashed: {exc!r}")
            raise
        if first_failure is not None and status is GameDayStatus.PASSED:
            status, reason = _GAMEDAY_STATUS[first_failure[0]], first_failure[2]
        exit_code = ExitCode.ABORTED if status is GameDayStatus.HALTED else ExitCode.PASSED
        if first_failure is not None:
            exit_code = first_failure[1]
        return self._finish(status, exit_code, reason)

    # ------------------------------------------------------------ steps

    def _run_step(self, step: PlannedStep) -> _StepOutcome:
        self._observer.step_started(step, len(self.plan.steps))
        started = time.time()
        if isinstance(step.step, HoldStep):
            outcome = self._hold(step, step.step, started)
        else:
            outcome = self._experiment(step, started)
        book.update_step(
            self._store,
            self.gameday_id,
            step.index,
            status=outcome.status,
            exit_code=None if outcome.exit_code is None else int(outcome.exit_code),
            reason=outcome.reason,
            ended_at=time.time(),
        )
        code = None if outcome.exit_code is None else int(outcome.exit_code)
        self._observer.step_ended(step, outcome.status, code, outcome.reason)
        return outcome

    def _hold(self, step: PlannedStep, hold: HoldStep, started: float) -> _StepOutcome:
        book.update_step(
            self._store, self.gameday_id, step.index, status=StepStatus.WAITING, started_at=started
        )
        go = self._gate.wait(step, hold)
        waited = time.time() - started
        book.update_step(self._store, self.gameday_id, step.index, hold_wait_s=waited)
        if go and self._halt_reason is None:
            return _StepOutcome(StepStatus.RELEASED)
        why = self._halt_reason or "stop at the hold"
        return _StepOutcome(StepStatus.STOPPED, ExitCode.ABORTED, f"{OPERATOR_HALT} ({why})", True)

    def _experiment(self, step: PlannedStep, started: float) -> _StepOutcome:
        assert step.experiment is not None and step.path is not None
        run_id = uuid.uuid4().hex[:12]
        book.update_step(
            self._store,
            self.gameday_id,
            step.index,
            status=StepStatus.RUNNING,
            run_id=run_id,
            started_at=started,
        )
        aborts: list[str] = []

        def watch_aborts(event: Event) -> None:
            if event.kind is EventKind.ABORT_REQUESTED:
                aborts.append(str(event.data.get("kind", "")))

        try:
            prepared = prepare_run(
                step.experiment,
                source=str(step.path),
                store=self._store,
                settings=self._settings,
                subscribers=[
                    watch_aborts,
                    self._observer.run_subscriber(step, run_id),
                    *self._subscribers,
                ],
                seed=self._seed,
                run_id=run_id,
            )
            self._current = prepared
            halted = self._halt_reason is not None  # while the run was being prepared
            if halted and self._halt_delivered_to != run_id:  # once: twice cuts the recovery
                prepared.engine.request_abort(f"{OPERATOR_HALT} ({self._halt_reason})")
            result = prepared.run()
        except ChaosError as exc:
            return _StepOutcome(StepStatus.ERROR, exc.exit_code, str(exc))
        finally:
            self._current = None
        reason = "; ".join(result.reasons)
        operator = self._halt_reason is not None or str(AbortKind.OPERATOR) in aborts
        halted = result.status is RunStatus.ABORTED and (
            operator or reason.startswith(OPERATOR_HALT)
        )
        return _StepOutcome(_STEP_STATUS[result.status], result.exit_code, reason, halted)

    # ------------------------------------------------------------ the store

    def _begin(self) -> None:
        meta, spec = self.plan.gameday.metadata, self.plan.gameday.spec
        book.start_gameday(
            self._store,
            gameday_id=self.gameday_id,
            name=meta.name,
            source=self.plan.source,
            description=meta.description,
            owners=meta.owners,
            notes=spec.notes,
            lab=self._settings.scope.lab_id,
            steps=[_step_plan(step) for step in self.plan.steps],
        )

    def _finish(self, status: GameDayStatus, exit_code: ExitCode, reason: str) -> GameDayResult:
        book.finish_gameday(
            self._store, self.gameday_id, status=status, exit_code=int(exit_code), reason=reason
        )
        return GameDayResult(self.gameday_id, status, exit_code, reason)


def _continues(step: PlannedStep) -> bool:
    return isinstance(step.step, ExperimentStep) and step.step.continue_on_failure


def _step_plan(step: PlannedStep) -> StepPlan:
    if isinstance(step.step, HoldStep):
        return StepPlan(kind="hold", label=step.label, notes=step.step.hold)
    return StepPlan(
        kind="experiment",
        label=step.label,
        source=str(step.path),
        notes=step.step.notes,
        continue_on_failure=step.step.continue_on_failure,
    )
