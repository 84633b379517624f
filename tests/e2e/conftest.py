"""Whole runs of the real CLI against a real lab (processes, proxy, SQLite), loopback only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.lab.manage import LabState, lab_down, lab_up
from tests.support import chaos_env, free_base_port, free_lab_id, run_chaos

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
# the lab's front door as a probe, indented for tests.support.write_experiment
HOMEPAGE_PROBE = '      - {name: homepage, http: {url: "${CHAOS_VAR_LAB_URL}/", timeout: 1500ms}}'


@dataclass(frozen=True)
class Lab:
    state: LabState
    home: Path
    db: str

    def env(self) -> dict[str, str]:
        return chaos_env(home=self.home, db=self.db, CHAOS_VAR_LAB_URL=self.state.web_url)

    def chaos(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_chaos(*args, env=self.env(), timeout=timeout)

    def start_run(self, experiment: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "chaos", "run", str(experiment), "--lab", self.state.lab_id],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def start_lab(
    home: Path, variant: str, isolation: str = "process", *, prefix: str = "e2e"
) -> Iterator[Lab]:
    """A lab with its own id and ports, stopped even when the tests using it fail."""
    lab_id = free_lab_id(f"{prefix}-{variant[:4]}-{isolation[:2]}")
    state = lab_up(
        chaos_home=home,
        lab_id=lab_id,
        variant=variant,
        base_port=free_base_port(),
        restart_delay_s=2.0,
        isolation=isolation,
    )
    try:
        yield Lab(state=state, home=home, db=f"sqlite:///{home / 'runs.db'}")
    finally:
        lab_down(chaos_home=home, lab_id=lab_id)


@pytest.fixture(scope="session")
def resilient_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from start_lab(tmp_path_factory.mktemp("resilient"), "resilient")


@pytest.fixture(scope="session")
def fragile_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from start_lab(tmp_path_factory.mktemp("fragile"), "fragile")


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the netns lab needs root")


@pytest.fixture(scope="session")
def netns_resilient_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _needs_root()
    yield from start_lab(tmp_path_factory.mktemp("ns-resilient"), "resilient", "netns")


@pytest.fixture(scope="session")
def netns_fragile_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _needs_root()
    yield from start_lab(tmp_path_factory.mktemp("ns-fragile"), "fragile", "netns")
