"""Game days of the real CLI against real labs (processes on loopback, SQLite), each lab
with its own id and ports, stopped even when a test fails; short copies of the lab
experiments so a whole game day takes seconds."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import EXPERIMENTS, Lab, start_lab


@pytest.fixture(scope="session")
def gameday_resilient_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from start_lab(tmp_path_factory.mktemp("gd-resilient"), "resilient", prefix="gd")


@pytest.fixture(scope="session")
def gameday_fragile_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from start_lab(tmp_path_factory.mktemp("gd-fragile"), "fragile", prefix="gd")


def short_experiment(directory: Path, name: str, *, duration: str = "2s") -> Path:
    """experiments/<name>.yaml with a 1 s baseline, a short fault and a 4 s recovery window."""
    text = (EXPERIMENTS / f"{name}.yaml").read_text()
    text = re.sub(r"baseline: \d+s", "baseline: 1s", text)
    text = re.sub(r"recovery: \d+s", "recovery: 4s", text)
    text = re.sub(r"duration: \d+s", f"duration: {duration}", text)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def write_plan(directory: Path, *steps: str, name: str = "plan") -> Path:
    body = "\n".join(f"    - {step}" for step in steps)
    path = directory / f"{name}.yaml"
    path.write_text(
        "apiVersion: chaos/v1\nkind: GameDay\n"
        f"metadata: {{name: {name}, owners: [sre-team]}}\n"
        f'spec:\n  notes: "pager muted"\n  steps:\n{body}\n'
    )
    return path


def gameday(lab: Lab, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``chaos gameday ARGS`` with no terminal on stdin (as in CI)."""
    return subprocess.run(
        [sys.executable, "-m", "chaos", "gameday", *args],
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_gameday(lab: Lab, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos", "gameday", "run", *args, "--lab", lab.state.lab_id],
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def gameday_id(output: str) -> str:
    match = re.search(r"^game day id: (\w+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)
