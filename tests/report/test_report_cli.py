"""``chaos report RUN_ID`` as a process, on a real SQLite store: a run that died half-way
(no verdict, no load, no SLI points, a fault never seen reverted) still gets every
report, and each says what is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from chaos.controller.events import EventBus, EventKind
from chaos.steady.hypothesis import Phase
from chaos.store.repository import RunStore, sqlite_url
from tests.report.samples import SPEC
from tests.support import chaos_env, run_chaos

RUN_ID = "half0000dead"


def chaos(db: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    store = ["--db", sqlite_url(db)] if db is not None else []
    return run_chaos(*args, *store, env=chaos_env(COLUMNS="250"))


@pytest.fixture
def half_run(tmp_path: Path) -> Path:
    """A run stored as a process that died during the fault leaves it: no verdict."""
    db = tmp_path / "chaos.db"
    store = RunStore(sqlite_url(db))
    bus = EventBus()
    bus.subscribe(store.recorder())
    bus.emit(
        EventKind.RUN_STARTED,
        run_id=RUN_ID,
        phase=Phase.PREFLIGHT,
        message=f"run {RUN_ID} of shop-latency",
        data={"experiment": "shop-latency", "source": "shop.yaml", "lab": "", "spec": SPEC},
    )
    for phase in (Phase.BASELINE, Phase.INJECT):
        bus.emit(EventKind.PHASE_STARTED, run_id=RUN_ID, phase=phase, message=phase.value)
    bus.emit(
        EventKind.FAULT_APPLIED,
        run_id=RUN_ID,
        phase=Phase.INJECT,
        message="latency on store [store-0]: +800ms",
        data={"fault": "latency", "label": "latency on store", "instance": "store-0"},
    )
    store.close()
    return db


def test_every_report_of_a_half_finished_run_says_what_is_missing(
    half_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = chaos(
        half_run,
        "report",
        RUN_ID[:6],
        "--json",
        str(out / "run.json"),
        "--junit",
        str(out / "junit.xml"),
        "--markdown",
        str(out / "summary.md"),
        "--html",
        str(out / "report.html"),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml",
        "report.html",
        "run.json",
        "summary.md",
    ]
    document = json.loads((out / "run.json").read_text())
    assert document["run"]["status"] == "running"  # its process (this test) is still alive
    assert document["faults"][0]["outcome"] == "active_at_end"
    missing = document["missing"]
    assert "no verdict yet: the run is still running" in missing
    assert "no load samples were stored (the run ended before the load started)" in missing
    for path in ("summary.md", "report.html", "junit.xml"):
        text = (out / path).read_text()
        assert "no load samples were stored" in text, path


def test_without_a_file_the_summary_goes_to_stdout(half_run: Path) -> None:
    result = chaos(half_run, "report", RUN_ID)
    assert result.returncode == 0, result.stderr
    assert "shop-latency" in result.stdout
    assert "no load samples were stored" in result.stdout


def test_an_unknown_run_or_an_unwritable_path_is_exit_2(half_run: Path, tmp_path: Path) -> None:
    unknown = chaos(half_run, "report", "nosuchrun", "--json", str(tmp_path / "r.json"))
    assert unknown.returncode == 2
    assert "no run with id 'nosuchrun'" in unknown.stderr
    assert not (tmp_path / "r.json").exists()
    blocked = chaos(half_run, "report", RUN_ID, "--html", str(tmp_path))
    assert blocked.returncode == 2
    assert "--html" in blocked.stderr and "is a directory" in blocked.stderr


def test_the_report_schema_is_printed() -> None:
    result = chaos(None, "schema", "--report")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "Chaos run report, version 1"
