"""The run loop: preflight → baseline → inject/observe → revert → recovery → verdict.

Reverts run on every path (normal end, stop condition, operator halt, error),
each one recorded as an event. ``request_abort`` is safe to call from a signal
handler or another thread: it only sets a flag the loop waits on.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.controller.events import EventBus, EventKind
from chaos.controller.executor import Executor
from chaos.controller.ledger import FaultLedger
from chaos.controller.load import RunLoad
from chaos.controller.monitor import SteadyStateMonitor, Tripped
from chaos.controller.preflight import describe_selection, preflight
from chaos.controller.records import sample_data
from chaos.controller.sampler import Sampler
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
from chaos.steady import slis
from chaos.steady.hypothesis import Observation, Phase
from chaos.steady.probes import build_probe
from chaos.steady.prometheus import PrometheusQuery
from chaos.targets.base import Scope, TargetBackend


@dataclass
class _RunState:
    phase: Phase = Phase.PREFLIGHT
    abort_kind: AbortKind | None = None
    abort_reason: str = ""
    error: ChaosError | None = None
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
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._cut_recovery = threading.Event()  # a second halt, or an error: stop measuring
        steady = experiment.spec.steady_state
        self._monitor = SteadyStateMonitor(experiment)
        self._slis_by_name = {sli.name: sli for sli in steady.slis}
        checks: list[Any] = [build_probe(probe) for probe in steady.probes]
        checks += [
            PrometheusQuery(sli.name, sli.prometheus) for sli in steady.slis if sli.prometheus
        ]
        timeouts = [probe.timeout for probe in steady.probes]
        timeouts += [sli.prometheus.timeout for sli in steady.slis if sli.prometheus]
        self._probe_timeout = max(timeouts, default=0.0)
        self._load = self._make_load(workdir, load_log_dir)
        self._ledger = FaultLedger(
            executor=executor,
            emit=lambda kind, message, data: self._emit(kind, message, data=data),
        )
        self._sampler = Sampler(
            probes=checks,
            interval=steady.interval,
            phase=lambda: self._state.phase,
            on_observation=self._on_observation,
        )

    # ------------------------------------------------------------ public

    def request_abort(self, reason: str, kind: AbortKind = AbortKind.OPERATOR) -> None:
        """Revert everything at once and end the run (exit 3) after measuring recovery.

        A second operator halt also cuts the recovery measurement short.
        """
        with self._lock:
            if self._state.abort_kind is None:
                self._state.abort_kind, self._state.abort_reason = kind, reason
            elif kind is AbortKind.OPERATOR:
                self._cut_recovery.set()
        self._abort.set()

    def run(self) -> RunResult:
        self._emit(
            EventKind.RUN_STARTED,
            f"run {self.run_id} of {self.experiment.metadata.name}",
            data=self._run_started_data(),
        )
        try:
            plan = self._preflight()
            if self._baseline_holds() and not self._abort.is_set():
                self._inject_and_observe(plan)
        except ChaosError as exc:
            self._state.error = exc
            self._emit(
                EventKind.ERROR, str(exc), data={"error": type(exc).__name__, **exc.context()}
            )
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
        selected = {name: [t.display for t in targets] for name, targets in plan.selected.items()}
        self._emit(
            EventKind.TARGETS_SELECTED,
            describe_selection(plan),
            data={"selected": selected, "candidates": dict(plan.candidates)},
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
        self._enter(Phase.REVERT)
        self._ledger.revert_all()
        self._state.reverted_at = time.time()
        self._leave(
            Phase.REVERT, data={"after": previous.value, "unreverted": self._ledger.unreverted}
        )

    def _should_measure_recovery(self) -> bool:
        state = self._state
        if state.error is not None or self._cut_recovery.is_set():
            return False
        injected = state.phase is Phase.REVERT and (
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
            _describe_recovery(check),
            data={
                "recovered": check.recovered,
                "time_to_recover_s": check.time_to_recover_s,
                "samples": check.ticks_observed,
            },
        )
        self._leave(Phase.RECOVERY)

    # ------------------------------------------------------------ samples & verdict

    def _on_observation(self, observation: Observation) -> None:
        sample = observation.sample
        recorded = self._monitor.record(observation)
        if recorded.tripped is not None:
            self._trip(recorded.tripped)
        self._emit(
            EventKind.SAMPLE,
            sample.error or "ok",
            phase=observation.phase,
            data=sample_data(observation),
        )
        self._emit_points(recorded.points)

    def _emit_points(self, points: list[slis.SliPoint]) -> None:
        for point in points:
            self._emit(
                EventKind.SLI_POINT,
                f"{point.sli} = {point.value:g}",
                phase=point.phase,
                data=self._monitor.point_event(point),
            )

    def _trip(self, tripped: Tripped) -> None:
        """A stop condition tripped: abort first (the run loop reverts at once), then tell."""
        if self._abort.is_set():
            return
        point, sample = tripped.point, tripped.sample
        if point is not None:
            sli = self._slis_by_name[point.sli]
            seen = slis.format_value(point.value, slis.source_of(sli))
            at, value = point.at, point.value
        else:
            assert sample is not None
            seen, at, value = sample.error or "failed", sample.started_at, None
        reason = f"stop condition tripped: {tripped.description} ({seen})"
        self.request_abort(reason, AbortKind.STOP_CONDITION)
        condition = tripped.condition
        self._emit(
            EventKind.STOP_CONDITION,
            reason,
            phase=Phase.INJECT,
            data={
                "probe": condition.probe,
                "sli": condition.sli,
                "for_s": condition.for_,
                "value": value,
                "at": at,
            },
        )

    def _fail(self, error: ChaosError) -> None:
        """A failure outside the run loop (Locust died): record it and stop the run."""
        with self._lock:
            if self._state.error is not None:
                return
            self._state.error = error
        self._cut_recovery.set()
        self._abort.set()
        self._emit(EventKind.ERROR, str(error), data={"error": type(error).__name__})

    def _finish(self) -> RunResult:
        self._enter(Phase.VERDICT)
        state = self._state
        if Phase.INJECT in self._monitor.checks:  # judged again with every late sample in
            self._monitor.check(Phase.INJECT)
        result = decide(
            run_id=self.run_id,
            error=state.error,
            abort_reason=state.abort_reason if state.abort_kind else None,
            checks=self._monitor.checks,
            recovery=state.recovery,
            unreverted=self._ledger.unreverted,
        )
        self._emit(
            EventKind.VERDICT,
            "; ".join(result.reasons) or result.status.value,
            data=verdict_data(
                result,
                checks=self._monitor.checks,
                recovery=state.recovery,
                explanation=self._monitor.explain(state.recovery),
            ),
        )
        self._emit(
            EventKind.RUN_ENDED,
            result.status.value,
            data={"status": result.status.value, "exit_code": int(result.exit_code)},
        )
        return result

    # ------------------------------------------------------------ helpers

    def _wait_for_samples(self, phase: Phase) -> None:
        self._sampler.drain(phase, timeout=self._probe_timeout + 1.0)
        if self._load is not None and self._state.error is None:
            self._monitor.wait_for_load(time.time(), timeout=2.5)

    def _make_load(self, workdir: Path | None, raw_log_dir: Path | None) -> RunLoad | None:
        if self.experiment.spec.load is None:
            return None
        source = Path(self._source) if self._source else Path("experiment.yaml")
        return RunLoad(
            self.experiment,
            monitor=self._monitor,
            emit=self._emit,
            emit_points=self._emit_points,
            on_trip=self._trip,
            on_failure=self._fail,
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
        payload = dict(data or {})
        if check is not None:
            payload.update(holds=check.holds, reasons=list(check.reasons))
        self._emit(EventKind.PHASE_ENDED, phase.value, phase=phase, data=payload)

    def _emit(
        self,
        kind: EventKind,
        message: str,
        *,
        phase: Phase | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._bus.emit(
            kind, run_id=self.run_id, phase=phase or self._state.phase, message=message, data=data
        )

    def _run_started_data(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.metadata.name,
            "source": self._source,
            "lab": self._scope.lab_id,
            "spec": self.experiment.model_dump(mode="json", by_alias=True),
        }


def _describe_recovery(check: hyp.RecoveryCheck) -> str:
    if check.recovered:
        return f"recovered {check.time_to_recover_s:.1f}s after revert"
    return check.reason or "did not recover"
