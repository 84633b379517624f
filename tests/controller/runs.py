"""Whole runs in this process for controller tests: a real agent on loopback holding the
faults, a real process as the target, a real HTTP server as the probe, and a real SQLite
run store; the run goes through ``prepare_run`` as ``chaos run``'s does."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from chaos.agent.scope import ScopePolicy
from chaos.controller.agent_client import AgentClient, AgentCredentials
from chaos.controller.events import Event
from chaos.controller.verdict import RunResult
from chaos.errors import AgentError
from chaos.faults import CATALOG
from chaos.runner.launch import PreparedRun, RunSettings, prepare_run
from chaos.spec.loader import load_text
from chaos.store.repository import RunStore
from chaos.targets import Scope
from tests.conftest import TOKEN
from tests.support import free_base_port, http_server, wait_for

LAB = f"store-ctl-{os.getpid()}"


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def homepage() -> Iterator[str]:
    """A real HTTP server answering 200: the steady state's probe."""
    with http_server(_Ok) as url:
        yield f"{url}/"


@contextmanager
def lab_process(agent_url: str) -> Iterator[None]:
    """A process of our lab, labelled app=api, served by the agent at ``agent_url``."""
    env = {
        **os.environ,
        "CHAOS_LAB_ID": LAB,
        "CHAOS_LABELS": "app=api",
        "CHAOS_AGENT": agent_url,
        "CHAOS_NODE": "n1",
    }
    process = subprocess.Popen(["sleep", "120"], env=env)
    try:
        yield
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def api_process(start_agent) -> Iterator:
    """An agent on loopback for node n1 (in this process), and a process it serves."""
    agent = start_agent(scope=ScopePolicy(labs=(LAB,), node=True))  # the lab's processes
    with lab_process(agent.url):
        yield agent


@dataclass
class AgentProcess:
    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> AgentClient:
        return AgentClient(self.url, credentials=AgentCredentials(token=TOKEN))

    def kill(self) -> None:
        """SIGKILL, as a crash would: no revert, its connections gone with it."""
        self.process.kill()
        self.process.wait()


@pytest.fixture
def killable_agent(tmp_path) -> Iterator[AgentProcess]:
    """``chaos agent serve`` for node n1 as its own process (so it can die for real), and
    a process it serves."""
    port = free_base_port(span=1)
    journal = str(tmp_path / "agent-journal")
    serve = ["agent", "serve", "--listen", f"127.0.0.1:{port}", "--node", "n1", "--scope-lab", LAB]
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos", *serve, "--journal-dir", journal],
        env={**os.environ, "CHAOS_AGENT_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    agent = AgentProcess(url=f"http://127.0.0.1:{port}", process=process)
    try:
        wait_for(lambda: _answers(agent), timeout=20, what="the agent to serve")
        with lab_process(agent.url):
            yield agent
    finally:
        process.terminate()  # reverts whatever it still holds
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(agent: AgentProcess) -> bool:
    client = agent.client()
    try:
        client.health()
        return True
    except AgentError:
        return False
    finally:
        client.close()


def experiment_text(probe_url: str, *, fault_s: float, lease_ttl: str = "1s") -> str:
    return f"""\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: held-noop}}
spec:
  targets:
    api: {{selector: {{labels: {{app: api}}}}}}
  steadyState:
    interval: 200ms
    probes:
      - {{name: homepage, http: {{url: "{probe_url}", timeout: 1s}}}}
  phases: {{baseline: 500ms, recovery: 1s}}
  method:
    - {{fault: noop, target: api, duration: {fault_s:g}s}}
  safety: {{leaseTtl: {lease_ttl}}}
"""


@dataclass
class Run:
    prepared: PreparedRun
    seen: list[Event] = field(default_factory=list)  # what a terminal would have shown

    def __call__(self) -> RunResult:
        return self.prepared.run()

    def kinds(self) -> list[str]:
        return [event.kind.value for event in self.seen]


def make_run(text: str, *, store: RunStore, home: Path) -> Run:
    experiment = load_text(text, file="held-noop.yaml", catalog=CATALOG)
    seen: list[Event] = []
    prepared = prepare_run(
        experiment,
        source=str(home / "held-noop.yaml"),
        store=store,
        settings=RunSettings(
            scope=Scope(lab_id=LAB), credentials=AgentCredentials(token=TOKEN), home=home
        ),
        subscribers=[seen.append],
    )
    return Run(prepared=prepared, seen=seen)


def fill_up(directory: Path) -> Path:
    """Write into ``directory`` until its file system says ENOSPC: the disk is full."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("ab", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler
