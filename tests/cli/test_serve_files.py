"""Token and TLS files given to the serving commands and to `chaos run` are read on the
operator's behalf: a device, a FIFO or a malformed token is refused at once, exit 2,
never a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import chaos_env, run_chaos


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [("agent", "serve", "--node", "n1"), ("controller", "serve")])
@pytest.mark.parametrize("kind", ["device", "fifo", "spaces"])
def test_a_token_file_that_is_not_a_token_is_refused_at_once(tmp_path, fifo, command, kind):
    token = {"device": Path("/dev/zero"), "fifo": fifo, "spaces": tmp_path / "token"}[kind]
    if kind == "spaces":
        token.write_text("a secret with spaces\n")
    args = [*command, "--token-file", str(token), "--listen", "127.0.0.1:1"]
    if command[0] == "agent":
        args += ["--journal-dir", str(tmp_path / "journal")]
    result = run_chaos(*args, env=chaos_env(home=tmp_path), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "--token-file" in result.stderr and "Traceback" not in result.stderr
    assert "secret with spaces" not in result.stderr  # the token is never echoed
    assert not (tmp_path / "journal").exists()  # refused before the agent touched anything


def test_tls_files_that_are_not_regular_files_are_refused_at_once(tmp_path, fifo):
    args = ["--tls-cert", "/dev/zero", "--tls-key", str(fifo), "--tls-ca", str(fifo)]
    result = run_chaos("controller", "serve", *args, env=chaos_env(home=tmp_path), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "must be a regular file" in result.stderr


def test_a_runs_agent_tls_files_that_are_not_regular_files_are_refused_at_once(tmp_path, fifo):
    args = ["--agent-cert", "/dev/zero", "--agent-key", str(fifo), "--agent-ca", str(fifo)]
    experiment = Path(__file__).parents[2] / "experiments" / "lab-store-partition.yaml"
    result = run_chaos("run", str(experiment), *args, env=chaos_env(home=tmp_path), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "--agent-cert" in result.stderr and "must be a regular file" in result.stderr
