"""``${NAME}`` reads only opted-in variables, and no error or stored form echoes a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.errors import SpecError, UsageError
from chaos.faults import CATALOG
from chaos.spec.loader import load_text
from chaos.spec.variables import opted_in
from tests.support import chaos_env, run_chaos

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-t0ken-value"

EXPERIMENT = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {name: demo}
spec:
  targets:
    api: {selector: {labels: {app: api}}}
  steadyState:
    probes:
      - name: home
        http: {url: "URL", timeout: "TIMEOUT"}
  method:
    - {fault: process-kill, target: api}
"""


def experiment(url: str = "http://127.0.0.1:1/", timeout: str = "1s") -> str:
    return EXPERIMENT.replace("URL", url).replace("TIMEOUT", timeout)


def problems(text: str, variables: dict[str, str] | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        load_text(text, file="x.yaml", catalog=CATALOG, variables=variables)
    return str(caught.value)


def test_only_chaos_var_names_and_given_ones_are_read():
    given = opted_in(["TOKEN=abc", "EMPTY="], environ={"HOME": "/root", "CHAOS_VAR_A": "1"})
    assert given == {"CHAOS_VAR_A": "1", "TOKEN": "abc", "EMPTY": ""}
    with pytest.raises(UsageError) as caught:
        opted_in([SECRET])  # "--var VALUE" without a name: the value must not be echoed
    assert SECRET not in str(caught.value)


def test_an_environment_variable_not_opted_in_is_an_error_naming_it_only(monkeypatch):
    monkeypatch.setenv("HOME", "/home/very-private-home")
    message = problems(experiment(url="${HOME}/x"), variables=opted_in())
    assert "variable HOME is not available" in message and "CHAOS_VAR_*" in message
    assert "very-private-home" not in message
    # a default does not make an undeclared name readable either
    assert "variable HOME is not available" in problems(experiment(url="${HOME:-http://a}/"))


def test_the_controller_gives_no_variables_at_all(monkeypatch):
    monkeypatch.setenv("CHAOS_VAR_URL", "http://127.0.0.1:9/")
    text = experiment(url="${CHAOS_VAR_URL}")
    assert "CHAOS_VAR_URL is not set and has no default" in problems(text, variables=None)
    fallback = load_text(
        experiment(url="${CHAOS_VAR_URL:-http://127.0.0.1:8/}"), file="x", catalog=CATALOG
    )
    assert fallback.spec.steady_state.probes[0].http.url == "http://127.0.0.1:8/"


def test_a_value_from_a_variable_is_never_quoted_in_an_error():
    message = problems(experiment(timeout="${CHAOS_VAR_T}"), {"CHAOS_VAR_T": SECRET})
    assert "spec.steadyState.probes[0].http.timeout" in message
    assert SECRET not in message and "${CHAOS_VAR_T}" in message
    # a short value is scrubbed where it was interpolated as well
    message = problems(experiment(timeout="${CHAOS_VAR_T}"), {"CHAOS_VAR_T": "x"})
    assert "'x'" not in message
    # part of a longer string: a URL with a token in it
    message = problems(experiment(url="ftp://h/?t=${CHAOS_VAR_T}"), {"CHAOS_VAR_T": SECRET})
    assert "http.url: must be an http:// or https:// URL" in message and SECRET not in message


def test_the_stored_form_puts_the_variable_back():
    text = experiment(url="http://127.0.0.1:1/?token=${CHAOS_VAR_TOKEN}")
    loaded = load_text(text, file="x.yaml", catalog=CATALOG, variables={"CHAOS_VAR_TOKEN": SECRET})
    assert loaded.spec.steady_state.probes[0].http.url.endswith(SECRET)  # the run uses it
    assert loaded.secrets == frozenset({SECRET})
    stored = json.dumps(loaded.redacted())
    assert SECRET not in stored
    assert "http://127.0.0.1:1/?token=${CHAOS_VAR_TOKEN}" in stored
    assert loaded.redact(f"GET {loaded.spec.steady_state.probes[0].http.url} failed") == (
        "GET http://127.0.0.1:1/?token=${CHAOS_VAR_TOKEN} failed"
    )


def test_cli_validate_reads_chaos_var_and_var_but_never_prints_them(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(experiment(url="${CHAOS_VAR_URL}", timeout="${T}"))
    env = chaos_env(CHAOS_VAR_URL="http://127.0.0.1:1/", HOME=str(tmp_path / "home-secret"))
    ok = run_chaos("validate", str(path), "--var", "T=2s", env=env)
    assert ok.returncode == 0, ok.stderr
    bad = run_chaos("validate", str(path), "--var", f"T={SECRET}", env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        f"{path}:10:50: spec.steadyState.probes[0].http.timeout: invalid duration '${{T}}'"
        in bad.stderr
    )
    assert SECRET not in bad.stderr + bad.stdout
    path.write_text(experiment(url="${HOME}"))
    home = run_chaos("validate", str(path), env=env)
    assert home.returncode == 2 and "variable HOME is not available" in home.stderr
    assert "home-secret" not in home.stderr + home.stdout
    malformed = run_chaos("validate", str(path), "--var", SECRET, env=env)
    assert malformed.returncode == 2 and SECRET not in malformed.stderr + malformed.stdout


def test_shipped_experiments_use_only_opted_in_names():
    for path in sorted((REPO / "experiments").rglob("*.yaml")):
        for line in path.read_text().splitlines():
            if "${" in line and not line.lstrip().startswith("#"):
                assert "${CHAOS_VAR_" in line, f"{path.name}: {line}"


def test_run_events_never_carry_an_interpolated_value():
    from chaos.controller.events import EventBus, EventKind
    from chaos.controller.payloads import run_started_data

    text = experiment(url="http://127.0.0.1:1/?token=${CHAOS_VAR_TOKEN}")
    loaded = load_text(text, file="x.yaml", catalog=CATALOG, variables={"CHAOS_VAR_TOKEN": SECRET})
    bus = EventBus(redact=loaded.redact)
    seen = []
    bus.subscribe(seen.append)
    url = loaded.spec.steady_state.probes[0].http.url
    bus.emit(
        EventKind.RUN_STARTED,
        run_id="r1",
        phase=None,
        message=f"probing {url}",
        data={**run_started_data(loaded, source="x.yaml", lab="l"), "urls": (url,)},
    )
    (event,) = seen
    assert SECRET not in event.message + json.dumps(event.data)
    assert event.message == "probing http://127.0.0.1:1/?token=${CHAOS_VAR_TOKEN}"


def test_cli_run_and_gameday_refuse_undeclared_variables_without_echo(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(experiment(url="${HOME}/"))
    env = chaos_env(home=tmp_path / "chaos-home", HOME=str(tmp_path / "private-home-dir"))
    run = run_chaos("run", str(path), "--var", "T=1s", env=env)
    assert run.returncode == 2 and "variable HOME is not available" in run.stderr
    assert "private-home-dir" not in run.stderr + run.stdout
    malformed = run_chaos("run", str(path), "--var", SECRET, env=env)
    assert malformed.returncode == 2 and SECRET not in malformed.stderr + malformed.stdout
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "apiVersion: chaos/v1\nkind: GameDay\nmetadata: {name: p}\n"
        "spec:\n  steps:\n    - experiment: exp.yaml\n"
    )
    path.write_text(experiment(url="${CHAOS_VAR_URL}"))
    checked = run_chaos(
        "gameday", "validate", str(plan), "--var", "CHAOS_VAR_URL=http://h/", env=env
    )
    assert checked.returncode == 0, checked.stderr
    missing = run_chaos("gameday", "validate", str(plan), env=env)
    assert missing.returncode == 2 and "CHAOS_VAR_URL is not set" in missing.stderr


def test_a_long_value_cut_short_in_a_message_is_still_scrubbed():
    long_secret = "tok-" + "q" * 200
    message = problems(experiment(timeout="${CHAOS_VAR_T}"), {"CHAOS_VAR_T": long_secret})
    assert "tok-qq" not in message and "${CHAOS_VAR_T}" in message
