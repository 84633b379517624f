"""Schedules against real parts: the process lab, SQLite files, APScheduler's own threads.

``lab``: one process lab per module (unique id and ports, stopped in finally).
``experiment``: writes a short experiment (about 2 s a run) against that lab.
``schedulers``: starts Scheduler instances and stops every one after the test.
``postgres``, ``postgres_url``: a real PostgreSQL server (``tests/postgres_lab.py``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.lab.manage import LabState, lab_down, lab_up
from chaos.runner.launch import RunSettings
from chaos.schedule.scheduler import Scheduler
from chaos.store.repository import RunStore, sqlite_url
from chaos.targets import Scope
from tests.postgres_lab import postgres, postgres_url  # noqa: F401 (fixtures: a real server)
from tests.support import chaos_env, free_base_port, run_chaos

REPO = Path(__file__).resolve().parents[2]
POLL_S = 0.2  # the scheduler's leadership and sync poll in tests (1 s in service)


@dataclass(frozen=True)
class Lab:
    state: LabState
    home: Path

    @property
    def settings(self) -> RunSettings:
        return RunSettings(scope=Scope(lab_id=self.state.lab_id), home=self.home)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("schedule-lab")
    lab_id = f"sched-{os.getpid()}"
    state = lab_up(chaos_home=home, lab_id=lab_id, base_port=free_base_port(), restart_delay_s=1.0)
    try:
        yield Lab(state=state, home=home)
    finally:
        lab_down(chaos_home=home, lab_id=lab_id)


def experiment_text(name: str, *, url: str, app: str = "api", fault_s: float = 1.0) -> str:
    """Latency on every link out of the ``app`` processes: a run of about fault_s + 1.5 s."""
    return f"""\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: {name}}}
spec:
  targets:
    {app}: {{kind: process, selector: {{labels: {{app: {app}}}}}}}
  steadyState:
    interval: 500ms
    probes:
      - name: homepage
        http: {{url: "{url}/", status: 200, timeout: 1500ms}}
  phases: {{baseline: 500ms, recovery: 2s, recoverySamples: 1}}
  method:
    - {{fault: network-latency, target: {app}, params: {{delay: 5ms}}, duration: {fault_s}s}}
  safety: {{leaseTtl: 2s}}
"""


@pytest.fixture
def experiment(tmp_path: Path, lab: Lab) -> Callable[..., Path]:
    def write(name: str, *, app: str = "api", fault_s: float = 1.0) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(experiment_text(name, url=lab.state.web_url, app=app, fault_s=fault_s))
        return path

    return write


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    opened = RunStore(sqlite_url(tmp_path / "chaos.db"))
    yield opened
    opened.close()


@pytest.fixture
def schedulers() -> Iterator[Callable[..., Scheduler]]:
    started: list[Scheduler] = []

    def start(store: RunStore, settings: RunSettings | None = None, **kwargs) -> Scheduler:
        kwargs.setdefault("poll_s", POLL_S)
        scheduler = Scheduler(store, settings or RunSettings(), **kwargs)
        started.append(scheduler)
        scheduler.start()
        return scheduler

    yield start
    for scheduler in started:
        with contextlib.suppress(Exception):  # already stopped by the test
            scheduler.stop(timeout_s=30)


def schedule_cli(
    *args: str, db: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``chaos schedule ARGS --db DB`` in a subprocess."""
    environment = chaos_env(COLUMNS="250", PYTHONPATH=str(REPO), **(env or {}))
    return run_chaos("schedule", *args, "--db", db, env=environment)
