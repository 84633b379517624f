"""The scheduler against the real process lab: firings on time, blackouts, overlapping
schedules refused or queued, a file that stops validating, a stop that halts the run in
flight, and restarts (clean, and a controller killed mid-run) that keep the schedules
and record what was missed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chaos.controller.events import RunStatus
from chaos.host import proxyctl
from chaos.schedule.manage import add_schedule
from chaos.store.repository import RunStore
from chaos.store.schedules import FiringOutcome, FiringRecord, SchedulePolicy, ScheduleStore
from tests.schedule.conftest import POLL_S, REPO, Lab
from tests.support import wait_for

pytestmark = pytest.mark.slow
ALWAYS = "2000-01-01T00:00..2100-01-01T00:00"


def firings(store: RunStore, name: str) -> list[FiringRecord]:
    """Oldest first."""
    return list(reversed(ScheduleStore(store).firings(name, limit=1000)))


def first(store: RunStore, name: str, outcome: FiringOutcome) -> FiringRecord | None:
    return next((f for f in firings(store, name) if f.outcome is outcome), None)


def wait_outcome(store, name, outcome, *, timeout=25.0) -> FiringRecord:
    wait_for(
        lambda: first(store, name, outcome) is not None, timeout=timeout, what=f"{name} {outcome}"
    )
    found = first(store, name, outcome)
    assert found is not None
    return found


def no_toxics(lab: Lab) -> bool:
    return all(not link.toxics for link in proxyctl.list_links(lab.state.control_url))


def test_a_schedule_fires_on_time_and_its_run_is_stored(lab, experiment, store, schedulers):
    file = experiment("sched-on-time")
    add_schedule(store, file=file, every="2s")
    scheduler = schedulers(store, lab.settings)
    ran = wait_outcome(store, "sched-on-time", FiringOutcome.RAN)
    run = store.get_run(ran.run_id).run
    assert run.status is RunStatus.PASSED and run.exit_code == 0
    assert run.source == str(file) and run.lab == lab.state.lab_id
    assert ran.exit_code == 0 and ran.run_status is RunStatus.PASSED
    assert ran.controller == scheduler.identity
    assert 0 <= run.started_at - ran.scheduled_at < 1.0  # on time
    assert no_toxics(lab)


def test_a_blackout_suppresses_firings_and_says_why(lab, experiment, store, schedulers):
    # whole seconds, as written in the window: the blackout is [start, end) of exactly
    # these instants, so a firing at end + 2 ms is rightly outside it
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(seconds=5)
    window = f"{now.isoformat()}..{end.isoformat()}"
    add_schedule(store, file=experiment("sched-blackout"), every="1s", blackouts=[window])
    schedulers(store, lab.settings)
    ran = wait_outcome(store, "sched-blackout", FiringOutcome.RAN)
    skipped = [f for f in firings(store, "sched-blackout") if f.outcome is FiringOutcome.SKIPPED]
    assert len(skipped) >= 3
    assert all(f.detail.startswith(f"blackout '{window}'") for f in skipped)
    assert all(f.scheduled_at < end.timestamp() for f in skipped)
    assert ran.scheduled_at >= end.timestamp()
    assert all(run.started_at >= end.timestamp() for run in store.list_runs(limit=100))


def at_slot(store, name, scheduled_at, outcome, *, timeout=20.0) -> FiringRecord:
    """The firing of ``name`` scheduled at ``scheduled_at``, once it has ``outcome``."""

    def found() -> FiringRecord | None:
        return next(
            (
                f
                for f in firings(store, name)
                if abs(f.scheduled_at - scheduled_at) < 0.01 and f.outcome is outcome
            ),
            None,
        )

    wait_for(lambda: found() is not None, timeout=timeout, what=f"{name} {outcome} at slot")
    firing = found()
    assert firing is not None
    return firing


def test_overlapping_schedules_the_second_is_refused(lab, experiment, store, schedulers):
    add_schedule(store, file=experiment("sched-a", fault_s=3), cron="*/10 * * * * *")
    add_schedule(store, file=experiment("sched-b"), cron="1-59/10 * * * * *")  # 1 s later
    add_schedule(store, file=experiment("sched-web", app="web"), cron="1-59/10 * * * * *")
    schedulers(store, lab.settings)
    a = wait_outcome(store, "sched-a", FiringOutcome.RUNNING)
    refused = at_slot(store, "sched-b", a.scheduled_at + 1, FiringOutcome.REFUSED)
    assert refused.detail == (
        f"overlaps run {a.run_id} (sched-a): process in {lab.state.lab_id} app=api"
        f" vs process in {lab.state.lab_id} app=api"
    )
    assert refused.run_id is None
    web = at_slot(store, "sched-web", a.scheduled_at + 1, FiringOutcome.RAN)  # other targets
    a = at_slot(store, "sched-a", a.scheduled_at, FiringOutcome.RAN)
    a_run, web_run = store.get_run(a.run_id).run, store.get_run(web.run_id).run
    assert a_run.started_at < web_run.started_at < a_run.ended_at  # side by side
    assert a_run.status is web_run.status is RunStatus.PASSED


def test_overlapping_schedules_the_queued_one_runs_after(lab, experiment, store, schedulers):
    add_schedule(store, file=experiment("sched-first", fault_s=3), cron="*/10 * * * * *")
    add_schedule(
        store,
        file=experiment("sched-queued"),
        cron="1-59/10 * * * * *",
        policy=SchedulePolicy.QUEUE,
    )
    schedulers(store, lab.settings)
    blocker = wait_outcome(store, "sched-first", FiringOutcome.RUNNING)
    queued = at_slot(store, "sched-queued", blocker.scheduled_at + 1, FiringOutcome.QUEUED)
    assert queued.detail.startswith(f"waiting up to 600s: overlaps run {blocker.run_id}")
    ran = at_slot(store, "sched-queued", blocker.scheduled_at + 1, FiringOutcome.RAN)
    blocker_run, queued_run = store.get_run(blocker.run_id).run, store.get_run(ran.run_id).run
    assert queued_run.started_at >= blocker_run.ended_at  # serialised
    assert queued_run.status is RunStatus.PASSED
    assert ran.detail.startswith("passed · waited ")
    assert ran.detail.endswith(f"s for run {blocker.run_id}")


def test_a_file_that_stops_validating_fails_its_firings_only(lab, experiment, store, schedulers):
    broken = experiment("sched-broken")
    add_schedule(store, file=broken, every="1s")
    broken.write_text(broken.read_text().replace("leaseTtl: 2s", "leaseTtl: soon"))
    add_schedule(store, file=experiment("sched-healthy", app="web"), every="2s")
    scheduler = schedulers(store, lab.settings)
    wait_outcome(store, "sched-healthy", FiringOutcome.RAN)
    failed = [f for f in firings(store, "sched-broken") if f.outcome is FiringOutcome.FAILED]
    assert len(failed) >= 2  # and it keeps firing
    assert failed[0].detail.startswith(f"{broken}:15:")
    assert "spec.safety.leaseTtl: invalid duration 'soon'" in failed[0].detail
    assert scheduler.is_leader


def test_stopping_the_scheduler_halts_the_run_in_flight(lab, experiment, store, schedulers):
    add_schedule(store, file=experiment("sched-long", fault_s=30), every="1s")
    scheduler = schedulers(store, lab.settings)
    running = wait_outcome(store, "sched-long", FiringOutcome.RUNNING)
    wait_for(lambda: not no_toxics(lab), timeout=10, what="the fault applied")
    started = time.monotonic()
    scheduler.stop(timeout_s=30)
    assert time.monotonic() - started < 10
    run = store.get_run(running.run_id).run
    assert run.status is RunStatus.ABORTED and run.exit_code == 3
    assert "the controller is stopping" in " ".join(run.reasons)
    ran = next(f for f in firings(store, "sched-long") if f.run_id == running.run_id)
    assert ran.outcome is FiringOutcome.RAN and ran.exit_code == 3
    assert no_toxics(lab)


def test_a_restart_keeps_schedules_and_records_the_firings_missed_meanwhile(
    tmp_path: Path, store, schedulers
):
    add_schedule(store, file=_valid_file(tmp_path), every="1s", blackouts=[ALWAYS], name="nightly")
    first_scheduler = schedulers(store)
    wait_for(lambda: len(firings(store, "nightly")) >= 2, timeout=10, what="two firings")
    first_scheduler.stop()
    stopped_at = time.time()
    time.sleep(4)
    reopened = RunStore(store.url)  # a new controller process would open the store afresh
    second = schedulers(reopened)
    wait_for(
        lambda: any(f.scheduled_at > stopped_at + 4 for f in firings(reopened, "nightly")),
        timeout=10,
        what="a firing after the restart",
    )
    missed = [f for f in firings(reopened, "nightly") if f.outcome is FiringOutcome.MISSED]
    assert len(missed) == 1 and missed[0].count >= 3
    assert "never ran: no controller was leading" in missed[0].detail
    assert missed[0].controller == second.identity
    # every second from the first firing on is accounted for, once
    all_firings = firings(reopened, "nightly")
    slots = sum(f.count for f in all_firings)
    span = all_firings[-1].scheduled_at - all_firings[0].scheduled_at
    assert slots == round(span) + 1


def test_a_firing_later_than_the_grace_is_recorded_missed(tmp_path: Path, store, schedulers):
    add_schedule(
        store, file=_valid_file(tmp_path), cron="*/10 * * * * *", blackouts=[ALWAYS], name="late"
    )
    first_scheduler = schedulers(store, misfire_grace_s=1)
    wait_for(lambda: firings(store, "late"), timeout=15, what="a first firing")
    first_scheduler.stop()
    next_slot = (time.time() // 10 + 1) * 10
    time.sleep(next_slot + 3 - time.time())  # that slot passed 3 s ago, unrun
    schedulers(RunStore(store.url), misfire_grace_s=1)
    late = wait_outcome(store, "late", FiringOutcome.MISSED, timeout=10)
    assert late.count == 1
    assert "could not start on time" in late.detail and "beyond the 1s grace" in late.detail


def test_a_controller_killed_mid_run_leaves_an_interrupted_run_and_the_next_one_fires(
    lab, experiment, store, schedulers
):
    add_schedule(store, file=experiment("sched-killed", fault_s=30), every="2s")
    script = (
        "import sys, time\nfrom pathlib import Path\n"
        "from chaos.runner.launch import RunSettings\n"
        "from chaos.schedule.scheduler import Scheduler\n"
        "from chaos.store.repository import RunStore\nfrom chaos.targets import Scope\n"
        "settings = RunSettings(scope=Scope(lab_id=sys.argv[2]), home=Path(sys.argv[3]))\n"
        f"Scheduler(RunStore(sys.argv[1]), settings, poll_s={POLL_S}).start()\n"
        "time.sleep(300)\n"
    )
    controller = subprocess.Popen(
        [sys.executable, "-c", script, store.url, lab.state.lab_id, str(lab.home)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        running = wait_outcome(store, "sched-killed", FiringOutcome.RUNNING)
        wait_for(lambda: store.get_run(running.run_id) is not None, timeout=10, what="its run")
        controller.send_signal(signal.SIGKILL)
        controller.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            controller.kill()
        controller.wait(timeout=10)
    # the fault's TTL (leaseTtl 2s beyond the step) reverts it without its controller
    wait_for(lambda: no_toxics(lab), timeout=45, what="the orphaned fault to expire")
    reopened = RunStore(store.url)  # opening the store marks the dead process's run
    assert reopened.get_run(running.run_id).run.status is RunStatus.INTERRUPTED
    interrupted = next(f for f in firings(reopened, "sched-killed") if f.run_id == running.run_id)
    assert interrupted.run_status is RunStatus.INTERRUPTED
    schedulers(reopened, lab.settings)  # the same schedule, from the database
    wait_for(
        lambda: any(
            f.run_status is RunStatus.RUNNING
            for f in firings(reopened, "sched-killed")
            if f.run_id != running.run_id
        ),
        timeout=20,
        what="a new run of the schedule",
    )


def _valid_file(tmp_path: Path) -> Path:
    from tests.schedule.conftest import experiment_text

    path = tmp_path / "quiet.yaml"
    path.write_text(experiment_text("quiet", url="http://127.0.0.1:9"))
    return path
