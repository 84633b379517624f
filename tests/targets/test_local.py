"""The local backend selects real processes by their lab labels, and nothing else."""

import os
import signal
import subprocess
import sys
import time

import pytest

from chaos.spec.models import Selector
from chaos.targets.base import Scope
from chaos.targets.local import LocalProcessBackend, parse_labels

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []

    def start(env_extra: dict[str, str]) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOS_")}
        proc = subprocess.Popen(SLEEPER, env={**env, **env_extra})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def wait_for_candidates(backend, selector, scope, count):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = backend.candidates(selector=selector, scope=scope)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return backend.candidates(selector=selector, scope=scope)


def test_selects_only_processes_of_the_lab_with_matching_labels(processes):
    lab = f"t-{os.getpid()}-sel"
    api = processes({"CHAOS_LAB_ID": lab, "CHAOS_LABELS": "app=api,replica=0"})
    processes({"CHAOS_LAB_ID": lab, "CHAOS_LABELS": "app=store"})
    processes({"CHAOS_LAB_ID": "another-lab", "CHAOS_LABELS": "app=api"})
    processes({"CHAOS_LABELS": "app=api"})  # no lab id: must never match
    backend = LocalProcessBackend(node="here")
    found = wait_for_candidates(backend, Selector(labels={"app": "api"}), Scope(lab_id=lab), 1)
    assert [t.pid for t in found] == [api.pid]
    target = found[0]
    assert target.labels["replica"] == "0" and target.labels["lab"] == lab
    assert target.display == f"api-0 (pid {api.pid})"
    assert target.node == "here"


def test_selector_lab_overrides_the_run_scope(processes):
    lab = f"t-{os.getpid()}-scope"
    proc = processes({"CHAOS_LAB_ID": lab, "CHAOS_LABELS": "app=api"})
    backend = LocalProcessBackend()
    selector = Selector(labels={"app": "api"}, lab=lab)
    found = wait_for_candidates(backend, selector, Scope(lab_id="default-elsewhere"), 1)
    assert [t.pid for t in found] == [proc.pid]


def test_exists_tracks_the_very_process_not_its_pid(processes):
    lab = f"t-{os.getpid()}-exists"
    proc = processes({"CHAOS_LAB_ID": lab, "CHAOS_LABELS": "app=api"})
    backend = LocalProcessBackend()
    (target,) = wait_for_candidates(backend, Selector(labels={"app": "api"}), Scope(lab_id=lab), 1)
    assert backend.exists(target)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not backend.exists(target)
    reused = target.__class__(**{**target.__dict__, "start_time": (target.start_time or 0) + 1})
    assert not backend.exists(reused)


def test_label_parsing():
    assert parse_labels("app=api, replica=0,,bad,=x") == {"app": "api", "replica": "0"}
