"""Shared fixtures: agents for tests, real HTTP servers on loopback with real journals."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.agent.run import AgentConfig, build_server
from chaos.agent.scope import Runtime, ScopePolicy
from chaos.agent.server import AgentServer
from chaos.controller.agent_client import AgentClient, AgentCredentials

pytest_plugins = ["tests.prometheus_lab"]  # the real-Prometheus fixtures

TOKEN = "test-token-0123456789"
# what the shared test agents may act on: the node itself (noop, the lab proxy) and
# Docker containers (tests/e2e/test_docker_agent.py); the guard tests pass their own
TEST_SCOPE = ScopePolicy(node=True, runtimes=frozenset({Runtime.DOCKER}), allow_ram_backed=True)


class RunningAgent:
    def __init__(
        self,
        journal_dir: Path,
        *,
        token: str | None = TOKEN,
        tls=None,
        scope: ScopePolicy = TEST_SCOPE,
    ) -> None:
        config = AgentConfig(
            host="127.0.0.1",
            port=0,
            node="n1",
            journal_dir=journal_dir,
            token=token,
            tls=tls,
            scope=scope,
        )
        self.server: AgentServer = build_server(config, probe=False)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None = TOKEN, **kwargs) -> AgentClient:
        return AgentClient(self.url, credentials=AgentCredentials(token=token, **kwargs))

    def stop(self, *, revert: bool = True) -> None:
        self.server.shutdown()
        if revert:
            self.server.service.shutdown()
        self.server.server_close()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator:
    agents: list[RunningAgent] = []

    def start(journal_dir: Path | None = None, **kwargs) -> RunningAgent:
        agent = RunningAgent(journal_dir or tmp_path / "journal", **kwargs)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        with contextlib.suppress(Exception):  # already stopped by the test
            agent.stop()
