"""Mutual TLS with certificates from `chaos certs`: real handshakes on loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chaos.agent.certs import Role, init_ca, issue
from chaos.agent.run import TlsFiles
from chaos.errors import AgentError, AgentUnreachable, UsageError
from chaos.host.tls import client_context
from tests.agent.test_server import noop_request


@pytest.fixture
def pki(tmp_path):
    directory = tmp_path / "certs"
    init_ca(directory)
    agent = issue(directory, name="node-1", role=Role.AGENT, hosts=["127.0.0.1"])
    controller = issue(directory, name="ctl", role=Role.CONTROLLER)
    return directory, agent, controller


def tls_agent(start_agent, pki, token=None):
    directory, agent, _ = pki
    return start_agent(token=token, tls=TlsFiles(agent.cert, agent.key, directory / "ca.crt"))


def test_controller_certificate_is_accepted(start_agent, pki):
    directory, _, controller = pki
    agent = tls_agent(start_agent, pki)
    assert agent.url.startswith("https://")
    context = client_context(cert=controller.cert, key=controller.key, ca=directory / "ca.crt")
    client = agent.client(token=None, ssl_context=context)
    assert client.apply(noop_request("f1"))["id"] == "f1"
    assert client.revert("f1")["reverted"] is True


def test_a_certificate_with_another_role_is_forbidden(start_agent, pki):
    directory, agent_files, _ = pki
    agent = tls_agent(start_agent, pki)
    context = client_context(cert=agent_files.cert, key=agent_files.key, ca=directory / "ca.crt")
    with pytest.raises(AgentError, match="403"):
        agent.client(token=None, ssl_context=context).apply(noop_request("f1"))
    assert agent.server.service.list_active() == []


def test_no_client_certificate_no_connection(start_agent, pki, tmp_path):
    directory, _, _ = pki
    agent = tls_agent(start_agent, pki)
    other = tmp_path / "other"
    init_ca(other)
    stranger = issue(other, name="ctl", role=Role.CONTROLLER)
    import ssl

    plain = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    with pytest.raises(AgentUnreachable):
        agent.client(token=None, ssl_context=plain).apply(noop_request("f1"))
    foreign = client_context(cert=stranger.cert, key=stranger.key, ca=directory / "ca.crt")
    with pytest.raises(AgentUnreachable):
        agent.client(token=None, ssl_context=foreign).apply(noop_request("f2"))
    assert agent.server.service.list_active() == []


def test_token_and_mtls_together_need_both(start_agent, pki):
    directory, _, controller = pki
    agent = tls_agent(start_agent, pki, token="s3cret-token")
    context = client_context(cert=controller.cert, key=controller.key, ca=directory / "ca.crt")
    with pytest.raises(AgentError, match="401"):
        agent.client(token=None, ssl_context=context).apply(noop_request("f1"))
    assert agent.client(token="s3cret-token", ssl_context=context).apply(noop_request("f2"))


def test_keys_are_private_and_the_ca_is_not_overwritten(pki):
    directory, agent, _ = pki
    assert (agent.key.stat().st_mode & 0o777) == 0o600
    assert ((directory / "ca.key").stat().st_mode & 0o777) == 0o600
    with pytest.raises(UsageError, match="already exists"):
        init_ca(directory)


def test_certs_cli(tmp_path):
    def chaos(*args):
        return subprocess.run(
            [sys.executable, "-m", "chaos", "certs", *args, "--dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )

    assert chaos("init").returncode == 0
    issued = chaos("issue", "node-9", "--role", "agent", "--host", "10.0.0.9")
    assert issued.returncode == 0 and "node-9.crt" in issued.stdout
    assert chaos("issue", "x", "--role", "king").returncode == 2


def test_an_agent_reached_by_address_is_checked_against_the_configured_tls_name(
    start_agent, tmp_path
):
    """On Kubernetes agents are reached by pod IP; their one certificate names a fixed DNS
    name (the Helm chart's), which the controller checks instead of the address."""
    directory = tmp_path / "named"
    init_ca(directory)
    named = issue(directory, name="agents", role=Role.AGENT, hosts=["chaos-agent.chaos.svc"])
    controller = issue(directory, name="ctl", role=Role.CONTROLLER)
    agent = start_agent(token=None, tls=TlsFiles(named.cert, named.key, directory / "ca.crt"))
    context = client_context(cert=controller.cert, key=controller.key, ca=directory / "ca.crt")
    with pytest.raises(AgentUnreachable, match=r"IP address mismatch|doesn't match"):
        agent.client(token=None, ssl_context=context).health()
    client = agent.client(token=None, ssl_context=context, server_name="chaos-agent.chaos.svc")
    assert client.health()["node"] == "n1"
    wrong = agent.client(token=None, ssl_context=context, server_name="elsewhere.example")
    with pytest.raises(AgentUnreachable):
        wrong.health()
