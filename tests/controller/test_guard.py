"""What stops a run: a stop condition aborts before anyone is told, a second halt cuts
the recovery measurement, a load failure is recorded once (pure logic, synthetic
samples and load seconds)."""

from __future__ import annotations

import pytest

from chaos.controller.events import EventKind
from chaos.controller.guard import RunGuard
from chaos.controller.monitor import SteadyStateMonitor
from chaos.controller.verdict import AbortKind
from chaos.errors import LoadError
from chaos.load.stats import LoadWindow, bucket_us
from chaos.spec.models import Experiment
from chaos.steady.hypothesis import Observation, Phase
from chaos.steady.probes import ProbeSample
from tests.controller.experiments import experiment as make_experiment

REST = """\
  steadyState:
    probes:
      - {name: homepage, http: {url: "http://127.0.0.1:1/", status: 200}}
    slis:
      - {name: errors, metric: error_ratio, threshold: "< 10%"}
  stopConditions:
    - {probe: homepage}
    - {sli: errors, threshold: "> 50%"}
"""

T0 = 1_000


class Recorder:
    """An emit that notes, with each event, whether the run was already aborting."""

    def __init__(self) -> None:
        self.events: list[tuple[EventKind, str, dict]] = []
        self.aborted_when: dict[EventKind, bool] = {}
        self.guard: RunGuard | None = None

    def __call__(self, kind: EventKind, message: str, *, phase=None, data=None) -> None:
        assert self.guard is not None
        self.aborted_when.setdefault(kind, self.guard.abort.is_set())
        self.events.append((kind, message, dict(data or {})))

    def kinds(self) -> list[EventKind]:
        return [kind for kind, _, _ in self.events]


@pytest.fixture
def experiment() -> Experiment:
    return make_experiment("guard", REST)


@pytest.fixture
def monitor(experiment) -> SteadyStateMonitor:
    monitor = SteadyStateMonitor(experiment)
    monitor.enter(Phase.BASELINE, at=T0)
    monitor.enter(Phase.INJECT, at=T0 + 3)
    return monitor


@pytest.fixture
def emit(experiment, monitor) -> Recorder:
    recorder = Recorder()
    slis = experiment.spec.steady_state.slis
    recorder.guard = RunGuard(monitor=monitor, sli_specs=slis, emit=recorder)
    return recorder


def failed_sample(at: float = T0 + 4) -> Observation:
    sample = ProbeSample("homepage", at, False, 12.0, error="connection refused")
    return Observation(tick=4, phase=Phase.INJECT, sample=sample)


def test_a_failing_probe_trips_its_stop_condition_and_aborts_before_any_event(emit):
    guard = emit.guard
    guard.on_observation(failed_sample())
    assert guard.abort.is_set() and guard.abort_kind is AbortKind.STOP_CONDITION
    reason = "stop condition tripped: probe homepage failing (connection refused)"
    assert guard.abort_reason == reason
    assert emit.kinds() == [EventKind.STOP_CONDITION, EventKind.SAMPLE]
    assert emit.aborted_when[EventKind.STOP_CONDITION]  # reverting never waits for the store
    _, message, data = emit.events[0]
    assert message == guard.abort_reason
    assert data == {"probe": "homepage", "sli": None, "for_s": 0.0, "value": None, "at": T0 + 4}
    assert not guard.cut_recovery.is_set()  # recovery is still measured


def test_a_load_second_over_the_line_trips_the_sli_condition_once(emit, monitor):
    guard = emit.guard
    record = monitor.record_load(
        LoadWindow(second=T0 + 4, requests=100, failures=80, histogram={bucket_us(5): 100})
    )
    assert record.tripped is not None
    guard.trip(record.tripped)
    guard.trip(record.tripped)  # already aborting: nothing more to say
    assert emit.kinds() == [EventKind.STOP_CONDITION]
    assert guard.abort_reason == "stop condition tripped: SLI errors > 50% (80.00%)"
    assert emit.events[0][2]["sli"] == "errors" and emit.events[0][2]["value"] == 0.8


def test_a_second_operator_halt_cuts_the_recovery_measurement(emit):
    guard = emit.guard
    guard.request_abort("operator halt (SIGINT)")
    assert guard.abort.is_set() and not guard.cut_recovery.is_set()
    guard.request_abort("operator halt (SIGINT)")
    assert guard.cut_recovery.is_set()
    assert guard.abort_kind is AbortKind.OPERATOR
    assert guard.abort_reason == "operator halt (SIGINT)"
    assert emit.events == []  # a halt only sets flags: safe from a signal handler


def test_a_halt_after_a_stop_condition_cuts_recovery_but_keeps_the_first_reason(emit):
    guard = emit.guard
    guard.on_observation(failed_sample())
    reason = guard.abort_reason
    guard.request_abort("stop condition again", AbortKind.STOP_CONDITION)
    assert not guard.cut_recovery.is_set()
    guard.request_abort("operator halt (SIGTERM)")
    assert guard.cut_recovery.is_set() and guard.abort_reason == reason


def test_a_load_failure_is_recorded_once_cuts_recovery_and_aborts(emit):
    guard = emit.guard
    guard.fail(LoadError("load generator failed: exited 1"))
    guard.fail(LoadError("load generator failed: again"))
    assert guard.abort.is_set() and guard.cut_recovery.is_set()
    assert str(guard.error) == "load generator failed: exited 1"
    assert emit.events == [
        (EventKind.ERROR, "load generator failed: exited 1", {"error": "LoadError"})
    ]
    assert guard.abort_kind is None  # an error, not an abort: exit 4


def test_an_error_the_run_loop_raised_is_the_runs_with_its_context(emit):
    guard = emit.guard
    guard.raised(LoadError("locust did not start", experiment="guard"))
    assert guard.error.context() == {"experiment": "guard"}
    assert emit.events == [
        (EventKind.ERROR, str(guard.error), {"error": "LoadError", "experiment": "guard"})
    ]
    assert not guard.abort.is_set()  # the loop is already on its way to revert
