"""What ``chaos run`` prints, as a person or a CI log sees it: the live board on a real
pseudo-terminal, plain lines through a pipe or with ``--no-color``, and ``--quiet``.

Each run is a short experiment (2 s baseline, a 4 s latency on api → store, recovery)
against the resilient process lab, so it passes: only the output differs.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import HOMEPAGE_PROBE, Lab
from tests.support import chaos_env, run_chaos, write_experiment

ESCAPE = "\x1b["
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves
TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM")


@pytest.fixture
def short_run(tmp_path: Path) -> Path:
    return write_experiment(
        tmp_path / "terminal-latency.yaml",
        targets="    api: {selector: {labels: {app: api}}}\n"
        "    store: {selector: {labels: {app: store}}}",
        probes=HOMEPAGE_PROBE,
        method="    - {fault: network-latency, target: api, params: {delay: 100ms, to: [store]}, "
        "duration: 4s}",
        phases="{baseline: 2s, recovery: 5s}",
        extra="  stopConditions:\n    - {probe: homepage, for: 3s}\n",
    )


def environment(lab: Lab, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in lab.env().items() if k not in TERMINAL_ENV}
    env.update(COLUMNS="100", **extra)
    return env


def run_args(lab: Lab, experiment: Path, *flags: str) -> list[str]:
    return ["run", str(experiment), "--lab", lab.state.lab_id, *flags]


def run_on_a_terminal(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> tuple[int, str]:
    """``chaos ARGS`` with stdin, stdout and stderr on a pseudo-terminal; everything it
    wrote."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every end of the terminal's other side is closed
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, output.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.slow
def test_a_terminal_shows_the_live_board_then_the_verdict(resilient_lab: Lab, short_run: Path):
    code, out = run_on_a_terminal(
        run_args(resilient_lab, short_run), environment(resilient_lab, TERM="xterm-256color")
    )
    assert code == 0, out
    assert ESCAPE in out  # colours and the footer's cursor moves
    out = CONTROL.sub("", out)
    # the footer: the run, its phase, elapsed and planned time, the fault with its time left
    assert re.search(r"terminal-latency · run [0-9a-f]{12}", out), out
    assert re.search(r"phase inject · elapsed \d\d:\d\d · left \d\d:\d\d \+ recovery ≤ 00:05", out)
    assert re.search(r"⚡ network-latency on api \[[^]]+\] · 00:0[1-4] left", out), out
    assert "homepage: homepage failing for 3s — " in out and "armed" in out
    # event lines still scroll above it, and the verdict table prints once the board is gone
    assert "● phase inject" in out and "⚡ applied network-latency on api" in out
    assert "Verdict" in out and "PASSED (exit 0)" in out
    assert out.rindex("faults active:") < out.index("Verdict"), "the board outlived the run"


@pytest.mark.slow
def test_a_pipe_gets_plain_lines_without_one_escape(resilient_lab: Lab, short_run: Path):
    result = run_chaos(
        *run_args(resilient_lab, short_run),
        env=environment(resilient_lab, TERM="xterm-256color"),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ESCAPE not in result.stdout + result.stderr
    assert "● phase inject" in result.stdout and "PASSED (exit 0)" in result.stdout
    assert "Verdict" in result.stdout
    assert "faults active:" not in result.stdout  # no board


@pytest.mark.slow
def test_no_color_on_a_terminal_is_plain(resilient_lab: Lab, short_run: Path):
    code, out = run_on_a_terminal(
        run_args(resilient_lab, short_run, "--no-color"),
        environment(resilient_lab, TERM="xterm-256color"),
    )
    assert code == 0, out
    assert ESCAPE not in out
    assert "● phase inject" in out and "PASSED (exit 0)" in out
    assert "faults active:" not in out and "elapsed" not in out  # no board


@pytest.mark.slow
def test_quiet_prints_the_outcome_and_the_run_id(resilient_lab: Lab, short_run: Path):
    result = run_chaos(
        *run_args(resilient_lab, short_run, "--quiet"),
        env=environment(resilient_lab, TERM="xterm-256color"),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 3, result.stdout
    assert lines[0].startswith("PASSED (exit 0) · time to recover"), result.stdout
    assert re.fullmatch(r"run id: ([0-9a-f]{12})  \(chaos runs show \1\)", lines[-1]), lines
    assert ESCAPE not in result.stdout + result.stderr
    assert result.stderr == ""


def test_quiet_and_verbose_together_are_a_usage_error(tmp_path: Path):
    env = chaos_env(home=tmp_path, db=f"sqlite:///{tmp_path / 'runs.db'}")
    experiment = Path(__file__).resolve().parents[2] / "experiments" / "lab-api-kill.yaml"
    result = run_chaos("run", str(experiment), "--quiet", "--verbose", env=env)
    assert result.returncode == 2
    assert "--quiet and --verbose exclude each other" in result.stderr
    assert not (tmp_path / "runs.db").exists()  # nothing was run
