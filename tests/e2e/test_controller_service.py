"""The controller service as a real process against the real process lab: a run submitted
over the API is executed by the engine and stored; a halt over the API reverts its fault
at once; stopping the service halts what it runs and waits for the reverts; an invalid
experiment is refused with every located problem and starts nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chaos.store.repository import RunStore
from tests.e2e.conftest import EXPERIMENTS, Lab
from tests.support import free_base_port, wait_for

pytestmark = pytest.mark.slow

TOKEN = "service-test-token"
LONG_PARTITION = (
    (EXPERIMENTS / "lab-store-partition.yaml")
    .read_text()
    .replace("duration: 8s", "duration: 60s")
    .replace("recovery: 10s", "recovery: 3s")
)


@dataclass
class Service:
    url: str
    process: subprocess.Popen[str]
    db: str  # the lab's run store, which the service writes to
    lab_url: str  # submitted experiments cannot read ${CHAOS_VAR_LAB_URL} from the service

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {TOKEN}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as answer:
            return answer.read().decode()

    def run(self, run_id: str) -> dict:
        status, body = self.call("GET", f"/v1/runs/{run_id}")
        assert status == 200, body
        return body

    def event_kinds(self, run_id: str) -> list[str]:
        return [event["kind"] for event in self.run(run_id)["events"]]


@pytest.fixture
def service(resilient_lab: Lab) -> Iterator[Service]:
    port = free_base_port(1)
    env = resilient_lab.env() | {"CHAOS_CONTROLLER_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos",
            "controller",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--lab",
            resilient_lab.state.lab_id,
            "--log-format",
            "json",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    service = Service(
        url=f"http://127.0.0.1:{port}",
        process=process,
        db=resilient_lab.db,
        lab_url=resilient_lab.state.web_url,
    )

    def answers() -> bool:
        try:
            return service.call("GET", "/v1/runs")[0] == 200
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            return False

    try:
        wait_for(answers, timeout=20, what="the controller service")
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def with_lab_url(service: Service, text: str) -> str:
    """The experiment as a caller sends it: the service's environment is not its to read."""
    variable = "${CHAOS_VAR_LAB_URL:-http://127.0.0.1:18080}"
    assert variable in text, "the experiment no longer names the lab's URL this way"
    return text.replace(variable, service.lab_url)


def submit(service: Service, text: str) -> str:
    body = {"experiment": with_lab_url(service, text), "source": "api.yaml"}
    status, body = service.call("POST", "/v1/runs", body)
    assert status == 201, body
    return body["run_id"]


def test_a_submitted_run_is_halted_over_the_api_and_its_fault_reverted(service: Service):
    run_id = submit(service, LONG_PARTITION)
    wait_for(
        lambda: "fault.applied" in service.event_kinds(run_id), timeout=30, what="the partition"
    )
    assert "chaos_faults_active 1" in service.metrics()
    halted_at = time.monotonic()
    status, body = service.call("POST", f"/v1/runs/{run_id}/halt", {"reason": "test halt"})
    assert status == 202, body
    wait_for(lambda: "fault.reverted" in service.event_kinds(run_id), timeout=10, what="the revert")
    assert time.monotonic() - halted_at < 5  # not the 60 s the step would have lasted
    wait_for(lambda: service.run(run_id)["run"]["status"] != "running", timeout=30, what="end")
    run = service.run(run_id)
    assert run["run"]["status"] == "aborted" and run["run"]["exit_code"] == 3
    assert any("test halt" in reason for reason in run["run"]["reasons"])
    assert run["samples"], "the run's probe samples come with it"
    metrics = service.metrics()
    assert "chaos_faults_active 0" in metrics
    assert "chaos_abort_latency_seconds_count 1" in metrics
    # a halt for a run that ended is refused, and one for an unknown run too
    assert service.call("POST", f"/v1/runs/{run_id}/halt")[0] == 409
    assert service.call("POST", "/v1/runs/nosuchrun/halt")[0] == 404


def test_an_invalid_experiment_is_refused_with_located_problems(service: Service):
    broken = with_lab_url(service, LONG_PARTITION).replace("duration: 60s", "duration: 60")
    status, body = service.call("POST", "/v1/runs", {"experiment": broken, "source": "bad.yaml"})
    assert status == 400
    assert any(issue.startswith("bad.yaml:") and "duration" in issue for issue in body["issues"])
    assert service.call("GET", "/v1/runs")[1]["runs"] == [] or all(
        run["source"] != "bad.yaml" for run in service.call("GET", "/v1/runs")[1]["runs"]
    )


def test_stopping_the_service_halts_its_runs_and_waits_for_the_reverts(service: Service):
    run_id = submit(service, LONG_PARTITION)
    wait_for(
        lambda: "fault.applied" in service.event_kinds(run_id), timeout=30, what="the partition"
    )
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=60) == 0
    detail = RunStore(service.db).get_run(run_id)
    assert detail is not None
    kinds = [event.kind for event in detail.events]
    assert "fault.reverted" in kinds
    assert "recovery.measured" not in kinds  # a stopping controller skips it: grace period
    assert detail.run.status.value == "aborted"


SHORT_PARTITION = (
    (EXPERIMENTS / "lab-store-partition.yaml")
    .read_text()
    .replace("duration: 8s", "duration: 2s")
    .replace("recovery: 10s", "recovery: 3s")
    .replace("baseline: 3s", "baseline: 1s")
)


def test_schedules_over_the_api_fire_runs_and_are_managed(service: Service, tmp_path):
    experiment = tmp_path / "short-partition.yaml"
    experiment.write_text(SHORT_PARTITION)
    bad = {"file": str(experiment), "cron": "61 * * * *", "name": "bad"}
    status, body = service.call("POST", "/v1/schedules", bad)
    assert status == 400 and "minute" in body["error"], body
    spec = {"file": str(experiment), "cron": "*/5 * * * * *", "name": "every-5s"}
    status, body = service.call("POST", "/v1/schedules", spec)
    assert status == 201, body

    def ran() -> bool:
        status, body = service.call("GET", "/v1/schedules/every-5s")
        return status == 200 and any(f["outcome"] == "ran" for f in body["firings"])

    wait_for(ran, timeout=60, what="a scheduled firing that ran")
    assert service.call("POST", "/v1/schedules/every-5s/pause")[0] == 200
    (listed,) = service.call("GET", "/v1/schedules")[1]["schedules"]
    assert listed["name"] == "every-5s" and listed["paused"] is True
    firing = next(
        f for f in service.call("GET", "/v1/schedules/every-5s")[1]["firings"] if f["run_id"]
    )
    run = service.run(firing["run_id"])["run"]
    assert run["experiment"] == "lab-store-partition"
    assert "chaos_scheduler_leader 1" in service.metrics()
    assert service.call("DELETE", "/v1/schedules/every-5s")[0] == 200
    assert service.call("DELETE", "/v1/schedules/every-5s")[0] == 404
    assert service.call("POST", "/v1/schedules/nope/pause")[0] == 404
