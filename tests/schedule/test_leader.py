"""One scheduler fires among replicas sharing a store: on a real PostgreSQL (an advisory
lock on a connection of its own) and on a SQLite file (a file lock)."""

from __future__ import annotations

import time
from pathlib import Path

from chaos.schedule.leader import LOCK_KEY
from chaos.store.repository import RunStore, sqlite_url
from chaos.store.schedules import FiringRecord, ScheduleStore
from tests.postgres_lab import Postgres  # the fixtures come through this package's conftest
from tests.schedule.conftest import experiment_text, schedule_cli
from tests.support import wait_for

ALWAYS = "2000-01-01T00:00..2100-01-01T00:00"  # every firing is recorded, none runs


def firings(store: RunStore) -> list[FiringRecord]:
    return ScheduleStore(store).firings("heartbeat", limit=1000)


def fired_by(store: RunStore, identity: str, after: float = 0.0) -> bool:
    return any(f.controller == identity and f.recorded_at > after for f in firings(store))


def add_heartbeat(tmp_path: Path, db: str) -> None:
    """Through the CLI, as an operator would, while both schedulers run."""
    file = tmp_path / "heartbeat.yaml"
    file.write_text(experiment_text("heartbeat", url="http://127.0.0.1:9"))
    added = schedule_cli("add", "--every", "1s", "--blackout", ALWAYS, str(file), db=db)
    assert added.returncode == 0, added.stderr


def test_postgres_one_leader_fires_and_the_other_takes_over_when_it_stops(
    tmp_path: Path, postgres_url: str, schedulers
):
    first, second = RunStore(postgres_url), RunStore(postgres_url)
    leader, follower = schedulers(first), schedulers(second)
    assert leader.is_leader and not follower.is_leader
    add_heartbeat(tmp_path, postgres_url)
    wait_for(lambda: len(firings(first)) >= 3, timeout=10, what="three firings")
    assert not follower.is_leader
    assert {f.controller for f in firings(first)} == {leader.identity}

    leader.stop()
    stopped = time.time()
    assert not leader.is_leader
    wait_for(lambda: follower.is_leader, timeout=3, what="the follower to lead")
    wait_for(lambda: fired_by(second, follower.identity), timeout=5, what="its firing")
    assert not fired_by(second, leader.identity, after=stopped)
    # every slot is accounted for once across the handover: ran (here: skipped) or missed
    recorded = sorted(firings(second), key=lambda f: f.scheduled_at)
    span = recorded[-1].scheduled_at - recorded[0].scheduled_at
    assert sum(f.count for f in recorded) == round(span) + 1


def test_postgres_a_leader_whose_connection_dies_stops_firing(
    tmp_path: Path, postgres: Postgres, postgres_url: str, schedulers
):
    first, second = RunStore(postgres_url), RunStore(postgres_url)
    leader, follower = schedulers(first), schedulers(second)
    add_heartbeat(tmp_path, postgres_url)
    wait_for(lambda: fired_by(first, leader.identity), timeout=10, what="a firing")

    # the server ends the session holding the lock, as a failover or a network cut would
    holders = postgres.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
        "AND granted AND classid = %s AND objid = %s",
        LOCK_KEY >> 32,
        LOCK_KEY & 0xFFFFFFFF,
    )
    assert holders == [(True,)]
    cut = time.time()
    wait_for(lambda: not leader.is_leader, timeout=3, what="the leader to notice")
    wait_for(lambda: follower.is_leader, timeout=3, what="the follower to lead")
    lost = time.time()
    wait_for(lambda: fired_by(second, follower.identity), timeout=5, what="its firing")
    time.sleep(2)
    late = [f for f in firings(second) if f.controller == leader.identity and f.recorded_at > lost]
    assert late == [], late
    assert lost - cut < 3
    # the old leader stays a follower while the new one holds the lock
    assert not leader.is_leader


def test_sqlite_one_scheduler_per_database_file(tmp_path: Path, schedulers):
    db = sqlite_url(tmp_path / "chaos.db")
    first, second = RunStore(db), RunStore(db)
    leader, follower = schedulers(first), schedulers(second)
    assert leader.is_leader and not follower.is_leader
    add_heartbeat(tmp_path, db)
    wait_for(lambda: len(firings(first)) >= 2, timeout=10, what="two firings")
    assert {f.controller for f in firings(first)} == {leader.identity}
    leader.stop()
    wait_for(lambda: follower.is_leader, timeout=3, what="the follower to lead")
    wait_for(lambda: fired_by(second, follower.identity), timeout=5, what="its firing")
