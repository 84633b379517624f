"""What the controller service refuses to run for an API caller, and who may call it: command
probes (off unless --allow-command-probes), the controller's environment (never read by a
submitted experiment), and mutual TLS with a certificate's role."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chaos.agent.certs import Role, init_ca, issue
from chaos.host.tls import client_context, server_context
from chaos.runner.launch import RunSettings
from chaos.service.auth import ControllerAuth
from chaos.service.run import ServiceConfig, build_server
from chaos.service.runs import RunManager
from chaos.service.server import ControllerServer
from chaos.store.repository import RunStore, sqlite_url
from tests.service.conftest import TOKEN

COMMAND_PROBE = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: api-command}}
spec:
  targets:
    api: {{kind: process, selector: {{labels: {{app: api}}}}, mode: one}}
  steadyState:
    probes:
      - name: touches-a-file
        command: {{argv: ["/bin/touch", "{marker}"]}}
  method:
    - fault: process-kill
      target: api
      params: {{signal: KILL}}
      duration: 1s
"""


def call(
    server: ControllerServer, method: str, path: str, body: dict | None = None, **kwargs
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10, **kwargs) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def service(start_service, tmp_path: Path) -> ControllerServer:
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    runs = RunManager(store, RunSettings(home=tmp_path, command_probes=False))
    return start_service(store, runs=runs)


def test_a_command_probe_submitted_over_the_api_is_refused_and_nothing_runs(service, tmp_path):
    marker = tmp_path / "ran"
    text = COMMAND_PROBE.format(marker=marker)
    status, body = call(service, "POST", "/v1/runs", {"experiment": text, "source": "cmd.yaml"})
    assert status == 400
    assert "'touches-a-file'" in body["error"] and "--allow-command-probes" in body["error"]
    assert call(service, "GET", "/v1/runs")[1]["runs"] == []
    assert not marker.exists()


def test_a_schedule_of_a_command_probe_is_refused_and_not_kept(service, tmp_path):
    experiment = tmp_path / "cmd.yaml"
    experiment.write_text(COMMAND_PROBE.format(marker=tmp_path / "ran"))
    status, body = call(
        service, "POST", "/v1/schedules", {"file": str(experiment), "every": "1s", "name": "c"}
    )
    assert status == 400 and "'touches-a-file'" in body["error"], body
    assert call(service, "GET", "/v1/schedules")[1]["schedules"] == []


@pytest.mark.parametrize("name", ["CHAOS_TEST_SECRET", "CHAOS_VAR_TEST_SECRET"])
def test_a_submitted_experiment_cannot_read_the_controllers_environment(
    service, monkeypatch, tmp_path, name
):
    # not even the variables a CLI user may opt into (CHAOS_VAR_*): the service has none
    monkeypatch.setenv(name, "s3cr3t-value-from-the-env")
    text = (
        COMMAND_PROBE.format(marker=tmp_path / "x")
        .replace("command: {argv: [", f'http: {{url: "http://127.0.0.1:9/${{{name}}}"}}\n#')
        .replace("name: touches-a-file", "name: homepage")
    )
    status, body = call(service, "POST", "/v1/runs", {"experiment": text, "source": "env.yaml"})
    assert status == 400, body
    assert "s3cr3t-value-from-the-env" not in json.dumps(body)
    assert any(issue.startswith("env.yaml:") and name in issue for issue in body["issues"])
    assert call(service, "GET", "/v1/runs")[1]["runs"] == []


def test_the_serve_flag_turns_command_probes_on_for_runs_and_schedules(tmp_path):
    for allowed in (False, True):
        config = ServiceConfig(
            host="127.0.0.1",
            port=0,
            database_url=sqlite_url(tmp_path / f"{allowed}.db"),
            token=TOKEN,
            command_probes=allowed,
            schedules=False,
        )
        server = build_server(config)
        try:
            assert server.state.command_probes is allowed
            assert server.state.runs is not None
            assert server.state.runs._settings.command_probes is allowed
        finally:
            server.server_close()
            server.store.close()


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    directory = tmp_path / "pki"
    init_ca(directory)
    return {
        "ca": directory / "ca.crt",
        "server": issue(directory, name="controller", role=Role.AGENT, hosts=["127.0.0.1"]),
        "controller": issue(directory, name="operator", role=Role.CONTROLLER),
        "agent": issue(directory, name="node-1", role=Role.AGENT),
    }


def tls_get(server: ControllerServer, context: ssl.SSLContext) -> int:
    try:
        with urllib.request.urlopen(server.url + "/v1/runs", timeout=5, context=context) as a:
            return a.status
    except urllib.error.HTTPError as error:
        return error.code


def test_mutual_tls_verifies_the_client_and_its_role(start_service, pki):
    server_files = pki["server"]
    context = server_context(cert=server_files.cert, key=server_files.key, ca=pki["ca"])
    server = start_service(
        auth=ControllerAuth(token=None, client_role="controller"), ssl_context=context
    )
    assert server.url.startswith("https://")
    operator = pki["controller"]
    good = client_context(cert=operator.cert, key=operator.key, ca=pki["ca"])
    assert tls_get(server, good) == 200
    agent = pki["agent"]
    assert tls_get(server, client_context(cert=agent.cert, key=agent.key, ca=pki["ca"])) == 403
    anonymous = ssl.create_default_context(cafile=str(pki["ca"]))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        tls_get(server, anonymous)  # no client certificate: the handshake fails
    assert tls_get(server, good) == 200  # and the service still answers


def test_a_scheduled_or_any_other_run_on_the_service_refuses_command_probes(tmp_path):
    """prepare_run is where every run on the service starts (submitted, scheduled): a
    schedule added with the CLI whose file has a command probe fails its firing."""
    from chaos.errors import UsageError
    from chaos.faults import CATALOG
    from chaos.runner.launch import prepare_run
    from chaos.spec.loader import load_text

    marker = tmp_path / "ran"
    experiment = load_text(COMMAND_PROBE.format(marker=marker), file="x.yaml", catalog=CATALOG)
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    try:
        with pytest.raises(UsageError, match="'touches-a-file'"):
            prepare_run(
                experiment,
                source="x.yaml",
                store=store,
                settings=RunSettings(home=tmp_path, command_probes=False),
            )
        assert store.list_runs() == []
    finally:
        store.close()
    assert not marker.exists()
