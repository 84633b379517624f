"""The run's load glue: a second of load that cannot be judged stops the run."""

from __future__ import annotations

from pathlib import Path

from chaos.controller.load import RunLoad
from chaos.controller.monitor import SteadyStateMonitor
from chaos.errors import LoadError
from chaos.load.stats import LoadWindow
from tests.controller.experiments import experiment as make_experiment

REST = """\
  steadyState:
    slis:
      - {name: errors, metric: error_ratio, threshold: "< 10%"}
  stopConditions:
    - {sli: errors, threshold: "> 50%"}
"""


class BrokenMonitor(SteadyStateMonitor):
    """A monitor with a bug: judging a second raises."""

    def record_load(self, window: LoadWindow):  # type: ignore[override]
        raise ZeroDivisionError("bug")


def test_a_second_that_cannot_be_judged_fails_the_run(tmp_path: Path) -> None:
    experiment = make_experiment("load-glue", REST)
    failures: list[LoadError] = []
    events: list[object] = []
    load = RunLoad(
        experiment,
        monitor=BrokenMonitor(experiment),
        emit=lambda *args, **kwargs: events.append(args),
        emit_points=lambda points: None,
        on_trip=lambda tripped: None,
        on_failure=failures.append,
        experiment_dir=tmp_path,
        workdir=tmp_path / "work",
    )
    load._on_window(LoadWindow(second=100, requests=10, failures=0))  # the reader's call
    assert len(failures) == 1
    assert "could not judge second 100 of load" in str(failures[0])
    assert events == []  # nothing recorded as if it had been judged
