"""The agent as a real process: `chaos agent serve`, SIGTERM reverts everything, then exit 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from chaos.controller.agent_client import AgentClient, AgentCredentials
from tests.agent.test_server import latency_request, proxy, toxics  # noqa: F401  (fixture)
from tests.support import wait_for


def test_sigterm_reverts_every_fault_then_exits(tmp_path, proxy):  # noqa: F811
    token = tmp_path / "token"
    token.write_text("process-token-0123456789\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos",
            "agent",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--node",
            "p1",
            "--journal-dir",
            str(tmp_path / "journal"),
            "--token-file",
            str(token),
            "--scope-node",  # the lab proxy's latency has no target process
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = AgentClient(
            f"http://127.0.0.1:{port}",
            credentials=AgentCredentials(token="process-token-0123456789"),
        )

        def up() -> bool:
            try:
                return client.health()["node"] == "p1"
            except Exception:
                return False

        wait_for(up, timeout=10, what="the agent to serve")
        client.apply(latency_request(proxy, "f1", ttl_s=600))
        assert len(toxics(proxy)) == 1
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=10)
    finally:
        agent.kill()
    assert agent.returncode == 0, stderr
    assert toxics(proxy) == []
    assert "process-token" not in stderr  # the token never reaches the log


def test_an_agent_without_credentials_refuses_to_start(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos",
            "agent",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node",
            "p1",
            "--journal-dir",
            str(tmp_path / "journal"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert "needs credentials" in result.stderr
