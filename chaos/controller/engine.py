"""The run loop: preflight → baseline → inject/observe → revert → recovery → verdict.

Reverts run on every path (normal end, stop condition, operator halt, error),
each one recorded as an event. What stops a run, and the flags the loop waits on,
live in ``guard``; what the loop's events carry, in ``payloads``.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.controller import payloads
from chaos.controller.events import Event, EventBus, EventKind
from chaos.controller.executor import AppliedFault, Executor
from chaos.controller.guard import RunGuard
from chaos.controller.ledger import FaultLedger
from chaos.controller.load import RunLoad
from chaos.controller.monitor import SteadyStateMonitor
from chaos.controller.preflight import describe_selection, preflight
from chaos.controller.sampler import Sampler
from chaos.controller.steady_checks import longest_timeout, steady_checks
from chaos.controller.verdict import (
    AbortKind,
    NotSteady,
    RunResult,
    decide,
    verdict_data,
)
from chaos.errors import ChaosError
from chaos.faults.base import FaultType
from chaos.plan.planner import Plan, PlannedStep, StepKind
from chaos.spec.models import Experiment
from chaos.steady import hypothesis as hyp
from chaos.steady.hypothesis import Phase
from chaos.targets.base import Scope, TargetBackend


@dataclass
class _RunState:
    phase: Phase = Phase.PREFLIGHT
    reverted_at: float = 0.0
    recovery: hyp.RecoveryCheck | None = None


class RunEngine:
    def __init__(
        self,
        *,
        experiment: Experiment,
        bus: EventBus,
        executor: Executor,
        backends: Mapping[str, TargetBackend],
        catalog: Mapping[str, FaultType],
        scope: Scope,
        source: str = "",
        run_id: str | None = None,
        rng: random.Random | None = None,
        workdir: Path | None = None,
        load_log_dir: Path | None = None,
    ) -> None:
        self.experiment = experiment
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._bus, self._backends, self._executor = bus, backends, executor
        self._catalog, self._scope, self._source = catalog, scope, source
        self._rng = rng or random.Random()
        self._state = _RunState()
        steady = experiment.spec.steady_state
        self._monitor = SteadyStateMonitor(experiment)
        self._guard = RunGuard(monitor=self._monitor, sli_specs=steady.slis, emit=self._emit)
        self._abort, self._cut_recovery = self._guard.abort, self._guard.cut_recovery
        bus.on_record_failure(
            lambda _event, reason: self._guard.store_failed(
                f"the run could not be recorded: {reason}"
            )
        )
        self._probe_timeout = longest_timeout(steady)
        self._load = self._make_load(workdir, load_log_dir)
        self._ledger = FaultLedger(
            executor=executor,
            emit=lambda kind, message, data: self._emit(kind, message, data=data),
        )
        self._sampler = Sampler(
            probes=steady_checks(steady),
            interval=steady.interval,
            phase=lambda: self._state.phase,
            on_observation=self._guard.on_observation,
        )

    # ------------------------------------------------------------ public

    def request_abort(self, reason: str, kind: AbortKind = AbortKind.OPERATOR) -> None:
        """Revert everything at once and end the run (exit 3) after measuring recovery.

        A second operator halt also cuts the recovery measurement short. Safe to call
        from a signal handler or another thread: it only sets flags the loop waits on.
        """
        self._guard.request_abort(reason, kind)

    def stop_now(self, reason: str) -> None:
        """Halt and skip the recovery measurement: for a controller that is shutting down
        and must be done within its grace period (reverts are never skipped)."""
        self._guard.request_abort(reason, AbortKind.OPERATOR)
        self._guard.request_abort(reason, AbortKind.OPERATOR)  # the second cuts recovery

    def store_failed(self, reason: str) -> None:
        """The store failed this run (e.g. its halt requests cannot be read): revert every
        fault at once and end with exit 4. Safe from any thread: it only sets flags."""
        self._guard.store_failed(reason)

    def lease_lost(self, applied: AppliedFault, why: str | None = None) -> None:
        """An agent no longer holds ``applied``, or its lease ran out unrenewed (``why``):
        before its duration ended, the run reverts the rest at once and ends exit 4."""
        self._guard.lease_lost(applied, why)

    def run(self) -> RunResult:
        self._emit(
            EventKind.RUN_STARTED,
            f"run {self.run_id} of {self.experiment.metadata.name}",
            data=payloads.run_started_data(
                self.experiment, source=self._source, lab=self._scope.lab_id
            ),
        )
        try:
            if not self._abort.is_set():  # e.g. the store could not record the start
                plan = self._preflight()
                if self._baseline_holds() and not self._abort.is_set():
                    self._inject_and_observe(plan)
        except ChaosError as exc:
            self._guard.raised(exc)
        finally:
            try:
                self._revert_everything()
            finally:
                self._executor.close()  # leases stop being renewed only after the reverts
        try:
            if self._should_measure_recovery():
                self._recover()
        finally:
            self._sampler.stop()
            if self._load is not None:
                self._load.stop()
        return self._finish()

    # ------------------------------------------------------------ phases

    def _preflight(self) -> Plan:
        self._enter(Phase.PREFLIGHT)
        plan = preflight(
            self.experiment,
            catalog=self._catalog,
            backends=self._backends,
            scope=self._scope,
            run_key=f"chaos-{self.run_id}",
            rng=self._rng,
        )
        self._emit(
            EventKind.TARGETS_SELECTED, describe_selection(plan), data=payloads.selection_data(plan)
        )
        if self._load is not None:
            self._load.start()  # the baseline starts once every user runs
        self._leave(Phase.PREFLIGHT)
        return plan

    def _baseline_holds(self) -> bool:
        phases = self.experiment.spec.phases
        self._enter(Phase.BASELINE)
        self._sampler.start()
        self._abort.wait(phases.baseline)
        self._wait_for_samples(Phase.BASELINE)
        check = self._monitor.check(Phase.BASELINE)
        self._leave(Phase.BASELINE, check=check)
        if self._abort.is_set():
            return False
        if not check.holds:
            raise NotSteady(
                "system not steady before injection: " + "; ".join(check.reasons),
                experiment=self.experiment.metadata.name,
            )
        return True

    def _inject_and_observe(self, plan: Plan) -> None:
        self._enter(Phase.INJECT)
        for step in plan.steps:
            if self._abort.is_set():
                break
            if step.kind is StepKind.PAUSE:
                self._abort.wait(step.pause)
            else:
                self._run_fault_step(step)
        if not self._abort.is_set():  # an abort reverts first; the verdict re-judges later
            self._wait_for_samples(Phase.INJECT)
        self._leave(Phase.INJECT, check=self._monitor.check(Phase.INJECT))

    def _run_fault_step(self, step: PlannedStep) -> None:
        ttl = self.experiment.spec.safety.lease_ttl
        started = time.monotonic()
        applied = self._ledger.apply_all(
            step.faults,
            ttl_for=lambda fault: fault.duration + ttl if fault.fault.reversible else None,
            stopped=self._abort.is_set,
        )
        # hold each fault for its own duration, then revert it, earliest first
        for result in sorted(applied, key=lambda a: a.planned.duration):
            remaining = started + result.planned.duration - time.monotonic()
            if remaining > 0 and self._abort.wait(remaining):
                return  # abort: the finally-revert takes every active fault back at once
            self._ledger.revert(result)
        rest = started + step.hold - time.monotonic()
        if rest > 0:
            self._abort.wait(rest)

    def _revert_everything(self) -> None:
        previous = self._state.phase
        if self._guard.abort_at is not None:
            # recorded here, not where the abort is requested (a signal handler must not
            # write to the store): when it was asked and why, so halts can be timed
            self._emit(
                EventKind.ABORT_REQUESTED,
                self._guard.abort_reason,
                data={
                    "requested_at": self._guard.abort_at,
                    "kind": str(self._guard.abort_kind),
                    "reason": self._guard.abort_reason,
                },
            )
        if self._guard.store_failure is not None:
            # not storable, but the terminal shows it before the reverts it explains
            self._emit(EventKind.ERROR, self._guard.store_failure + "; reverting every fault")
        self._enter(Phase.REVERT)
        self._ledger.revert_all()
        self._state.reverted_at = time.time()
        self._leave(
            Phase.REVERT, data={"after": previous.value, "unreverted": self._ledger.unreverted}
        )

    def _should_measure_recovery(self) -> bool:
        if self._guard.error is not None or self._cut_recovery.is_set():
            return False
        injected = self._state.phase is Phase.REVERT and (
            self._ledger.applied_count > 0 or self._monitor.sampled(Phase.INJECT)
        )
        return injected and self.experiment.spec.phases.recovery > 0

    def _recover(self) -> None:
        phases = self.experiment.spec.phases
        self._enter(Phase.RECOVERY)
        self._sampler.sample_now()
        deadline = time.monotonic() + phases.recovery
        check = self._monitor.recovery(reverted_at=self._state.reverted_at)
        while not check.recovered and time.monotonic() < deadline:
            if self._cut_recovery.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
                break
            check = self._monitor.recovery(reverted_at=self._state.reverted_at)
        self._state.recovery = check
        self._emit(
            EventKind.RECOVERY,
            payloads.describe_recovery(check),
            data=payloads.recovery_event_data(check),
        )
        self._leave(Phase.RECOVERY)

    # ------------------------------------------------------------ verdict

    def _finish(self) -> RunResult:
        self._enter(Phase.VERDICT)
        guard = self._guard
        if Phase.INJECT in self._monitor.checks:  # judged again with every late sample in
            self._monitor.check(Phase.INJECT)
        result = self._verdict(only_if_recorded=guard.store_failure is None)
        if result is None:  # the store failed on the verdict itself: no PASSED is shown
            result = self._verdict(only_if_recorded=False)
            assert result is not None
        self._emit(EventKind.RUN_ENDED, result.status.value, data=payloads.run_ended_data(result))
        return result

    def _verdict(self, *, only_if_recorded: bool) -> RunResult | None:
        """Decide and emit the verdict; None if it was to be shown only once recorded
        and the store could not take it."""
        guard, recovery = self._guard, self._state.recovery
        result = decide(
            run_id=self.run_id,
            error=guard.error,
            abort_reason=guard.abort_reason if guard.abort_kind else None,
            checks=self._monitor.checks,
            recovery=recovery,
            unreverted=self._ledger.unreverted,
            store_failure=guard.store_failure,
            dropped=guard.dropped,
        )
        shown = self._emit(
            EventKind.VERDICT,
            "; ".join(result.reasons) or result.status.value,
            data=verdict_data(
                result,
                checks=self._monitor.checks,
                recovery=recovery,
                explanation=self._monitor.explain(recovery),
            ),
            only_if_recorded=only_if_recorded,
        )
        if shown is None:
            return None
        return dataclasses.replace(result, recorded=guard.store_failure is None)

    # ------------------------------------------------------------ helpers

    def _wait_for_samples(self, phase: Phase) -> None:
        self._sampler.drain(phase, timeout=self._probe_timeout + 1.0)
        if self._load is not None and self._guard.error is None:
            self._monitor.wait_for_load(time.time(), timeout=2.5)

    def _make_load(self, workdir: Path | None, raw_log_dir: Path | None) -> RunLoad | None:
        if self.experiment.spec.load is None:
            return None
        source = Path(self._source) if self._source else Path("experiment.yaml")
        return RunLoad(
            self.experiment,
            monitor=self._monitor,
            emit=self._emit,
            emit_points=self._guard.emit_points,
            on_trip=self._guard.trip,
            on_failure=self._guard.fail,
            experiment_dir=source.parent,
            workdir=workdir or Path(tempfile.mkdtemp(prefix=f"chaos-{self.run_id}-")),
            raw_log_dir=raw_log_dir,
        )

    def _enter(self, phase: Phase) -> None:
        self._state.phase = phase
        self._monitor.enter(phase)
        self._emit(EventKind.PHASE_STARTED, phase.value)

    def _leave(
        self,
        phase: Phase,
        *,
        check: hyp.PhaseCheck | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        payload = payloads.phase_ended_data(check, data)
        self._emit(EventKind.PHASE_ENDED, phase.value, phase=phase, data=payload)

    def _emit(
        self,
        kind: EventKind,
        message: str,
        *,
        phase: Phase | None = None,
        data: dict[str, Any] | None = None,
        only_if_recorded: bool = False,
    ) -> Event | None:
        return self._bus.emit(
            kind,
            run_id=self.run_id,
            phase=phase or self._state.phase,
            message=message,
            data=data,
            only_if_recorded=only_if_recorded,
        )
