"""Schemathesis drives the controller's own OpenAPI document against the real service
(uvicorn on loopback, a temporary SQLite store, the bearer token sent with every case):
no request it generates, valid or not, gets a 5xx, and every answer matches what the
document says (status codes, content types, bodies).

Runs are validated but never started here: a fuzzed experiment that happened to validate
could reach whatever its targets and probes name. So the service's run manager is the real
one in every way up to the start: the same loader (no ``${VAR}`` from this process), the
same command-probe refusal; where it would start a run it answers 409 instead, and the
test asserts none was stored.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chaos.controller.events import EventBus
from chaos.errors import StateConflict
from chaos.runner.launch import RunSettings, refuse_command_probes
from chaos.service.runs import RunManager, load_submitted
from chaos.service.server import ControllerServer
from chaos.store.repository import RunStore, sqlite_url
from tests.service.conftest import TOKEN
from tests.store.run_events import full_run

EXAMPLES = 25  # per operation and mode: the whole document in well under a minute
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class ValidateOnly(RunManager):
    """Everything a submission goes through before a run starts; then 409, not a run."""

    def submit(self, text: str, *, source: str) -> str:
        refuse_command_probes(load_submitted(text, source=source))
        raise StateConflict("runs are not started by this test's service")


@pytest.fixture
def fuzzed_service(start_service, tmp_path: Path) -> ControllerServer:
    store = RunStore(sqlite_url(tmp_path / "runs.db"))
    bus = EventBus()
    bus.subscribe(store.recorder())
    full_run(bus, "aaa111")  # one stored run, so some generated ids and reports hit it
    runs = ValidateOnly(store, RunSettings(home=tmp_path, command_probes=False))
    return start_service(store, runs=runs)


def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    fuzzed_service: ControllerServer,
):
    schema = schemathesis.openapi.from_url(f"{fuzzed_service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # every route of the API is in the document
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, fuzzed_service)
        try:
            fuzz(operation, GenerationMode.NEGATIVE, fuzzed_service)
        except Unsatisfiable:  # nothing to get wrong: no parameters, no body
            assert not operation.path_parameters and not operation.body
            assert not operation.query
    assert_healthy(fuzzed_service)


def fuzz(operation, mode: GenerationMode, service: ControllerServer) -> None:
    """Requests that fit the document (positive) and that do not (negative)."""

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def one(case) -> None:
        case.call_and_validate(
            base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS
        )
        assert len(service.store.list_runs(limit=10)) == 1  # only the seeded run

    one()


def assert_healthy(service: ControllerServer) -> None:
    with urllib.request.urlopen(f"{service.url}/healthz", timeout=5) as answer:
        assert answer.read() == b"ok\n"
