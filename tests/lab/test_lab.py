"""The lab end to end: real supervisor, real service processes, real proxy, loopback only.

The resilient variant must answer within 0.8 s under each fault while the fragile one
fails: that contrast is what the lab exists to teach.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.errors import LabError
from chaos.host import proxyctl
from chaos.lab.manage import LabState, lab_down, lab_status, lab_up
from tests.support import free_base_port, pid_alive, wait_for

RESTART_DELAY_S = 1.0
CLIENT_TIMEOUT_S = 1.5
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, *, timeout: float = CLIENT_TIMEOUT_S) -> tuple[int | None, dict, float]:
    """(status or None on timeout/connection error, body, seconds)."""
    start = time.perf_counter()
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, json.loads(response.read()), time.perf_counter() - start
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), time.perf_counter() - start
    except OSError:
        return None, {}, time.perf_counter() - start


def warm_up(state: LabState) -> None:
    """Fresh, non-degraded answers from every api replica: caches full, breakers closed."""
    seen: set[str] = set()
    replicas = {s.name for s in state.services if s.app == "api"}

    def all_fresh() -> bool:
        status, body, _ = get(state.web_url)
        if status == 200 and not body.get("degraded"):
            seen.add(body["served_by"])
        return seen >= replicas

    wait_for(all_fresh, timeout=8, what="fresh answers from every api replica")


def start_lab(tmp_path_factory: pytest.TempPathFactory, variant: str) -> Iterator[LabState]:
    home = tmp_path_factory.mktemp(f"chaos-{variant}")
    state = lab_up(
        chaos_home=home,
        lab_id=f"test-{variant}",
        variant=variant,
        base_port=free_base_port(),
        restart_delay_s=RESTART_DELAY_S,
    )
    try:
        yield state
    finally:
        lab_down(chaos_home=home, lab_id=state.lab_id)


@pytest.fixture(scope="module")
def resilient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    yield from start_lab(tmp_path_factory, "resilient")


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    yield from start_lab(tmp_path_factory, "fragile")


def current(state: LabState) -> LabState:
    fresh = lab_status(chaos_home=state.home.parent.parent, lab_id=state.lab_id)
    assert fresh is not None
    return fresh


def wait_all_healthy(state: LabState) -> None:
    wait_for(lambda: current(state).healthy, timeout=10, what="every service healthy")


FAULTS = {
    "latency": ("api->store", {"type": "latency", "delay_ms": 2000, "jitter_ms": 0}),
    "drop": ("api->store", {"type": "partition", "mode": "drop"}),
    "reject": ("api->store", {"type": "partition", "mode": "reject"}),
}


def inject(state: LabState, fault: str) -> None:
    link, toxic = FAULTS[fault]
    proxyctl.put_toxic(
        state.control_url, link=link, toxic_id=f"test-{fault}", toxic=toxic, ttl_s=30
    )


def kill_api_replica(state: LabState) -> int:
    pid = next(s.pid for s in state.services if s.name == "api-0")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=2, what=f"api-0 (pid {pid}) to die")
    return pid


def test_resilient_lab_serves_items_and_reports_status(resilient: LabState) -> None:
    status, body, _ = get(resilient.web_url)
    assert status == 200 and body["items"] and body["degraded"] is False
    state = current(resilient)
    assert state.healthy
    assert {s.name for s in state.services} == {"web", "api-0", "api-1", "store"}
    assert {link.name for link in state.links} == {"api->store", "web->api-0", "web->api-1"}
    for service in state.services:
        environ = Path(f"/proc/{service.pid}/environ").read_bytes().split(b"\0")
        assert f"CHAOS_LAB_ID={resilient.lab_id}".encode() in environ
        assert any(e.startswith(f"CHAOS_LABELS=app={service.app},".encode()) for e in environ)


def test_lab_up_twice_is_refused(resilient: LabState) -> None:
    with pytest.raises(LabError, match="already running"):
        lab_up(chaos_home=resilient.home.parent.parent, lab_id=resilient.lab_id)


def test_killed_service_is_restarted_and_recorded(resilient: LabState) -> None:
    old_pid = kill_api_replica(resilient)
    started = time.monotonic()

    def restarted() -> bool:
        api = next(s for s in current(resilient).services if s.name == "api-0")
        return api.pid != old_pid and api.healthy

    wait_for(restarted, timeout=RESTART_DELAY_S + 5, what="api-0 restarted")
    assert time.monotonic() - started >= RESTART_DELAY_S * 0.8
    raw = json.loads((resilient.home / "state.json").read_text())
    (api,) = [s for s in raw["services"] if s["name"] == "api-0"]
    assert api["pid"] != old_pid and api["restarts"] >= 1 and pid_alive(api["pid"])


@pytest.mark.parametrize("fault", ["latency", "drop", "reject", "kill"])
def test_resilient_web_answers_fast_under_fault(resilient: LabState, fault: str) -> None:
    wait_all_healthy(resilient)
    warm_up(current(resilient))
    try:
        if fault == "kill":
            kill_api_replica(current(resilient))
        else:
            inject(resilient, fault)
        for _ in range(4):  # several requests: both replicas, breaker closed and open
            status, body, seconds = get(resilient.web_url)
            assert status == 200, body
            assert body["items"], body
            assert seconds < 0.8, f"{fault}: took {seconds:.2f}s"
    finally:
        proxyctl.delete_all_toxics(resilient.control_url)


@pytest.mark.parametrize("fault", ["latency", "drop", "reject", "kill"])
def test_fragile_web_fails_under_fault(fragile: LabState, fault: str) -> None:
    wait_all_healthy(fragile)
    assert get(fragile.web_url)[0] == 200
    try:
        if fault == "kill":
            kill_api_replica(current(fragile))
        else:
            inject(fragile, fault)
        status, body, seconds = get(fragile.web_url)
        assert status in (None, 502), (status, body)
        assert status == 502 or seconds >= CLIENT_TIMEOUT_S * 0.9
    finally:
        proxyctl.delete_all_toxics(fragile.control_url)


def test_lab_down_leaves_nothing_behind(tmp_path: Path) -> None:
    state = lab_up(
        chaos_home=tmp_path, lab_id="short", variant="fragile", base_port=free_base_port()
    )
    try:
        pids = [state.supervisor_pid, *(s.pid for s in state.services)]
        assert all(pid_alive(pid) for pid in pids)
        assert lab_down(chaos_home=tmp_path, lab_id="short") is True
        assert not any(pid_alive(pid) for pid in pids)
        assert not (state.home / "state.json").exists()
        assert lab_status(chaos_home=tmp_path, lab_id="short") is None
        assert lab_down(chaos_home=tmp_path, lab_id="short") is False
    finally:
        lab_down(chaos_home=tmp_path, lab_id="short")


def test_stale_state_is_not_running_and_busy_port_fails_fast(tmp_path: Path) -> None:
    home = tmp_path / "labs" / "stale"
    home.mkdir(parents=True)
    (home / "state.json").write_text(json.dumps({"supervisor_pid": 999_999_999}))
    assert lab_status(chaos_home=tmp_path, lab_id="stale") is None
    assert lab_down(chaos_home=tmp_path, lab_id="stale") is False
    assert not (home / "state.json").exists()
    base = free_base_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 5))
        busy.listen()
        with pytest.raises(LabError, match=f"port {base + 5}"):
            lab_up(chaos_home=tmp_path, lab_id="stale", base_port=base, timeout_s=10)
    assert not (home / "state.json").exists()
