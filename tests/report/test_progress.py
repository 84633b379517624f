"""The three output modes of ``chaos run``: chosen once from the terminal, ``--no-color``,
``$NO_COLOR`` and ``--quiet``; and what each prints of a run's events."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from chaos.controller.events import Event, EventKind
from chaos.faults import CATALOG
from chaos.report.live_board import RunBoard
from chaos.report.progress import OutputMode, RunProgress, output_mode, terminal_console
from chaos.spec.loader import load_text
from chaos.steady.hypothesis import Phase

EXPERIMENT = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {name: progress-check}
spec:
  targets:
    store: {selector: {labels: {app: store}}}
  steadyState:
    probes: [{name: homepage, http: {url: "http://127.0.0.1:18080/"}}]
  phases: {baseline: 2s, recovery: 5s}
  method:
    - {fault: network-partition, target: store, params: {direction: in}, duration: 4s}
"""
VERDICT = {
    "status": "failed",
    "exit_code": 1,
    "time_to_recover_s": 2.0,
    "reasons": ["inject: probe homepage passed 1/2"],
    "explanation": [
        {
            "name": "homepage",
            "kind": "probe",
            "baseline": "2/2",
            "fault_worst": "1/2",
            "recovery": "3/3",
            "threshold": "100% pass",
            "tolerance": "-",
            "time_to_recover_s": 2.0,
            "passed": False,
            "failed_in": ["inject"],
        }
    ],
}


def events() -> list[Event]:
    at = time.time()
    fault = {"label": "network-partition on store", "instance": "store-0", "step": "spec.method[0]"}
    return [
        Event(EventKind.RUN_STARTED, "run1", at, Phase.PREFLIGHT, "run run1 of progress-check"),
        Event(EventKind.PHASE_STARTED, "run1", at, Phase.INJECT, "inject"),
        Event(EventKind.FAULT_APPLIED, "run1", at, Phase.INJECT, "partitioned", fault),
        Event(
            EventKind.SAMPLE,
            "run1",
            at,
            Phase.INJECT,
            "refused",
            {"probe": "homepage", "ok": False, "latency_ms": 3.0},
        ),
        Event(EventKind.FAULT_REVERT_FAILED, "run1", at, Phase.REVERT, "agent gone", fault),
        Event(EventKind.VERDICT, "run1", at, Phase.VERDICT, "failed", VERDICT),
    ]


def output(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich's own detection, told stdout is a colour terminal."""
    for name in ("NO_COLOR", "TTY_COMPATIBLE", "COLORTERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")


@pytest.mark.usefixtures("terminal")
@pytest.mark.parametrize(
    ("environment", "no_color", "quiet", "mode"),
    [
        ({}, False, False, OutputMode.LIVE),
        ({}, True, False, OutputMode.PLAIN),
        ({"NO_COLOR": "1"}, False, False, OutputMode.PLAIN),
        ({"TERM": "dumb"}, False, False, OutputMode.PLAIN),
        ({"FORCE_COLOR": ""}, False, False, OutputMode.PLAIN),  # not a terminal (a pipe)
        ({}, False, True, OutputMode.QUIET),
    ],
    ids=["terminal", "no-color", "NO_COLOR", "dumb", "pipe", "quiet"],
)
def test_the_mode_is_chosen_once_from_the_terminal(
    monkeypatch: pytest.MonkeyPatch, environment: dict, no_color: bool, quiet: bool, mode
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    console = terminal_console(no_color=no_color)
    assert output_mode(console, quiet=quiet) is mode
    colours = mode is OutputMode.LIVE or (mode is OutputMode.QUIET and not no_color)
    assert (console.color_system is not None) is colours


def test_plain_prints_every_notable_line_and_the_verdict_without_an_escape() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    show = RunProgress(console, mode=OutputMode.PLAIN).subscriber()
    for event in events():
        show(event)
    text = output(console)
    assert "● phase inject" in text and "✗ homepage 3ms — refused" in text
    assert "✗ REVERT FAILED agent gone" in text
    assert "Verdict" in text and "FAILED (exit 1) · time to recover 2.0s" in text
    assert "\x1b[" not in text


def test_quiet_prints_the_outcome_and_sends_failures_to_stderr() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    alarms = Console(file=io.StringIO(), width=100, color_system=None)
    show = RunProgress(console, mode=OutputMode.QUIET, alarms=alarms).subscriber()
    for event in events():
        show(event)
    assert output(console).splitlines() == [
        "FAILED (exit 1) · time to recover 2.0s",
        "  - inject: probe homepage passed 1/2",
    ]
    assert output(alarms).splitlines()[-1].endswith("✗ REVERT FAILED agent gone")


def test_live_shows_the_board_under_the_lines_and_removes_it_before_the_verdict() -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True)
    experiment = load_text(EXPERIMENT, file="progress-check.yaml", catalog=CATALOG)
    board = RunBoard.for_experiment(experiment)
    with RunProgress(console, mode=OutputMode.LIVE, board=board) as progress:
        show = progress.subscriber()
        for event in events()[:-1]:
            show(event)
        time.sleep(0.6)  # a refresh or two of the board
        show(events()[-1])
        text = output(console)
    assert "progress-check · run run1" in text and "phase inject" in text
    assert "● phase inject" in text  # lines scroll above the board
    assert "✗ homepage 3ms" not in text  # samples go to the board's sparkline
    assert text.rindex("faults active:") < text.index("Verdict"), "the board outlived the run"
    assert text.count("FAILED (exit 1)") == 1
