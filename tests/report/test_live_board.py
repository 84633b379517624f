"""The live run board, fed a run's events: its phase, elapsed and remaining time, the
faults active with their time left, each SLI and probe against its threshold, the stop
conditions; within 100 columns, and still whole at 80."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from chaos.controller.events import Event, EventKind
from chaos.faults import CATALOG
from chaos.report.live_board import SPARK_POINTS, RunBoard, RunTimeline, mmss
from chaos.spec.loader import load_text
from chaos.spec.models import Experiment
from chaos.steady.hypothesis import Phase

START = 1_700_000_000.0
EXPERIMENT = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {name: board-check}
spec:
  targets:
    store: {selector: {labels: {app: store}}}
  load:
    host: http://127.0.0.1:18080
    users: 2
    tasks: [{name: homepage, path: /}]
  steadyState:
    probes:
      - {name: homepage, http: {url: "http://127.0.0.1:18080/", latency: "< 800"}}
    slis:
      - {name: errors, metric: error_ratio, threshold: "< 1%"}
      - {name: p99, metric: latency_p99_ms, threshold: "< 500", duringFault: "< 1500"}
  phases: {baseline: 5s, recovery: 30s, tolerateDuringFault: [homepage]}
  method:
METHOD
  stopConditions:
    - {name: error budget burning, sli: errors, threshold: "> 20%", for: 1s}
"""
TWO_STEPS = """\
    - {fault: network-partition, target: store, params: {direction: in}, duration: 10s}
    - {fault: network-latency, target: store, params: {delay: 1s}, duration: 20s}"""


def experiment(method: str = TWO_STEPS) -> Experiment:
    return load_text(EXPERIMENT.replace("METHOD", method), file="board-check.yaml", catalog=CATALOG)


class Run:
    """A board and a clock the test moves: events happen at seconds after START."""

    def __init__(self, method: str = TWO_STEPS) -> None:
        self.now = START
        self.board = RunBoard.for_experiment(experiment(method), clock=lambda: self.now)

    def at(self, second: float, kind: EventKind, message: str = "", **data) -> None:
        phase = Phase(message) if kind is EventKind.PHASE_STARTED else data.pop("phase", None)
        self.board.feed(Event(kind, "0123456789ab", START + second, phase, message, data))

    def shown(self, second: float, width: int = 100) -> str:
        self.now = START + second
        console = Console(record=True, width=width, file=io.StringIO())
        console.print(self.board.render())
        return console.export_text()


PARTITION = {
    "label": "network-partition on store",
    "instance": "store-0 (pid 7)",
    "step": "spec.method[0]",
}


def row(text: str, name: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [name])


def test_remaining_time_is_the_plan_left_with_recovery_as_an_upper_bound() -> None:
    timeline = RunTimeline.of(experiment())  # baseline 5s, steps of 10s then 20s, recovery ≤ 30s
    assert timeline.remaining(Phase.PREFLIGHT, 1.0) == (35.0, 30.0)
    assert timeline.remaining(Phase.BASELINE, 2.0) == (33.0, 30.0)
    assert timeline.remaining(Phase.INJECT, 12.0) == (18.0, 30.0)  # into the second step
    assert timeline.remaining(Phase.INJECT, 45.0) == (0.0, 30.0)  # running late: not negative
    assert timeline.remaining(Phase.REVERT, 0.5) == (0.0, 30.0)
    assert timeline.remaining(Phase.RECOVERY, 4.0) == (0.0, 26.0)
    assert timeline.remaining(Phase.VERDICT, 0.0) == (0.0, 0.0)
    assert timeline.describe(Phase.PREFLIGHT, 0.0) == "left 00:35 + recovery ≤ 00:30"
    assert timeline.describe(Phase.RECOVERY, 4.0) == "left ≤ 00:26"


def test_parallel_faults_last_as_long_as_the_longest_and_pauses_count() -> None:
    method = """\
    - parallel:
        - {fault: network-partition, target: store, params: {direction: in}, duration: 3s}
        - {fault: network-latency, target: store, params: {delay: 1s}, duration: 70s}
    - pause: 2s"""
    assert RunTimeline.of(experiment(method)).remaining(Phase.BASELINE, 0.0) == (77.0, 30.0)
    assert mmss(77.0) == "01:17"


def test_the_board_shows_a_run_as_it_goes() -> None:
    run = Run()
    run.at(0, EventKind.RUN_STARTED, "run 0123456789ab of board-check")
    text = run.shown(1)
    assert "board-check · run 0123456789ab" in text
    assert "phase starting · elapsed 00:01 · left 00:35 + recovery ≤ 00:30" in text
    assert "faults active: none" in text
    assert "error budget burning: errors > 0.2 for 1s — armed" in text

    run.at(1, EventKind.PHASE_STARTED, "baseline")
    run.at(3, EventKind.SLI_POINT, sli="p99", value=120.0, ok=True, source="latency_p99_ms")
    run.at(4, EventKind.SAMPLE, probe="homepage", latency_ms=30.0, ok=True, phase=Phase.BASELINE)
    text = run.shown(4)
    assert row(text, "p99")[1:] == ["▁", "✓", "120ms", "<", "500ms", "1/1", "0"]
    assert row(text, "homepage")[1:] == ["▁", "✓", "30ms", "<", "800ms", "1/1", "0"]

    run.at(6, EventKind.PHASE_STARTED, "inject")
    run.at(6.5, EventKind.FAULT_APPLIED, "applied", **PARTITION)
    run.at(7, EventKind.SLI_POINT, sli="errors", value=0.0, ok=True, source="error_ratio")
    run.at(8, EventKind.SLI_POINT, sli="errors", value=0.5, ok=False, source="error_ratio")
    run.at(8, EventKind.SLI_POINT, sli="p99", value=900.0, ok=True, source="latency_p99_ms")
    run.at(9, EventKind.SAMPLE, probe="homepage", latency_ms=12.0, ok=True, phase=Phase.INJECT)
    run.at(10, EventKind.STOP_CONDITION, "tripped", sli="errors", probe=None)
    text = run.shown(12)
    assert "phase inject · elapsed 00:12 · left 00:24 + recovery ≤ 00:30" in text
    assert "⚡ network-partition on store [store-0 (pid 7)] · 00:05 left" in text
    assert row(text, "errors")[1:] == ["▁█", "✗", "50.00%", "<", "1%", "1/2", "1"]
    # the fault-time threshold while faults are active
    assert row(text, "p99")[1:] == ["▁█", "✓", "900ms", "<", "1500ms", "2/2", "0"]
    # tolerated while faults are active
    assert row(text, "homepage")[1:] == ["█▁", "✓", "12ms", "exempt", "2/2", "0"]
    assert "error budget burning: errors > 0.2 for 1s — TRIPPED" in text

    assert "network-partition on store [store-0 (pid 7)] · reverting" in run.shown(17)
    run.at(17, EventKind.FAULT_REVERTED, "reverted", **PARTITION)
    run.at(17, EventKind.PHASE_STARTED, "revert")
    run.at(18, EventKind.PHASE_STARTED, "recovery")
    text = run.shown(22)
    assert "faults active: none" in text
    assert "phase recovery · elapsed 00:22 · left ≤ 00:26" in text


@pytest.mark.parametrize("width", [80, 100])
def test_the_board_fits_the_terminal(width: int) -> None:
    run = Run()
    run.at(0, EventKind.PHASE_STARTED, "inject")
    for faults in range(8):
        run.at(0, EventKind.FAULT_APPLIED, **{**PARTITION, "instance": f"store-{faults}"})
    for second in range(SPARK_POINTS + 5):
        value = second / 100
        run.at(
            second, EventKind.SLI_POINT, sli="errors", value=value, ok=True, source="error_ratio"
        )
    text = run.shown(3, width=width)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    spark = row(text, "errors")[1]
    assert len(spark) == (SPARK_POINTS if width == 100 else 25)  # the newest points
    assert spark.endswith("█")
    assert "store-4] · 00:07 left" in text and "store-5]" not in text
    assert "… and 3 more" in text
