"""What the run has observed of the steady state: samples, per-phase checks, stop conditions.

Fed by the sampler's thread, read by the run loop: every method is thread-safe.
The judging itself is pure (``chaos.steady.hypothesis``); this keeps the record.
"""

from __future__ import annotations

import threading
from typing import Any

from chaos.spec.models import Experiment, StopCondition
from chaos.steady import hypothesis as hyp
from chaos.steady.hypothesis import Observation, Phase


class SteadyStateMonitor:
    def __init__(self, experiment: Experiment) -> None:
        spec = experiment.spec
        self._probes = [probe.name for probe in spec.steady_state.probes]
        self._min_pass_ratio = spec.steady_state.min_pass_ratio
        self._tolerated = spec.phases.tolerate_during_fault
        self._recovery_samples = spec.phases.recovery_samples
        self._stop_watch = hyp.StopConditionWatch(spec.stop_conditions)
        self._lock = threading.Lock()
        self._observations: list[Observation] = []
        self.checks: dict[Phase, hyp.PhaseCheck] = {}

    def record(self, observation: Observation) -> StopCondition | None:
        """Keep a sample; during the fault, the stop condition it trips (if any)."""
        with self._lock:
            self._observations.append(observation)
            if observation.phase is not Phase.INJECT:
                return None
            return self._stop_watch.observe(observation.sample)

    def check(self, phase: Phase) -> hyp.PhaseCheck:
        """Judge ``phase`` on what was sampled in it; the result is kept for the verdict."""
        with self._lock:
            observations = list(self._observations)
        check = hyp.check_phase(
            observations,
            phase=phase,
            probes=self._probes,
            min_pass_ratio=self._min_pass_ratio,
            tolerated=self._tolerated if phase is Phase.INJECT else (),
        )
        self.checks[phase] = check
        return check

    def recovery(self, *, reverted_at: float) -> hyp.RecoveryCheck:
        with self._lock:
            observations = list(self._observations)
        return hyp.check_recovery(
            observations,
            probes=self._probes,
            needed=self._recovery_samples,
            reverted_at=reverted_at,
        )

    def sampled(self, phase: Phase) -> bool:
        with self._lock:
            return any(observation.phase is phase for observation in self._observations)


def sample_data(observation: Observation) -> dict[str, Any]:
    sample = observation.sample
    return {
        "tick": observation.tick,
        "probe": sample.probe,
        "ok": sample.ok,
        "latency_ms": sample.latency_ms,
        "status": sample.status,
        "error": sample.error,
        "started_at": sample.started_at,
    }
