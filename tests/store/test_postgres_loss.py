"""A run store on a real PostgreSQL whose connection is lost mid-run: a connection the
server dropped once is replaced (the run goes on, recorded); a server that no longer
lets the run in fails the next write within seconds, as StoreError, never a hang."""

from __future__ import annotations

import time

from chaos.controller.events import EventBus
from chaos.store.repository import RunStore
from tests.postgres_lab import Postgres
from tests.store.run_events import emit_sample, new_id, start_run


def recording(url: str) -> tuple[RunStore, EventBus, list[str]]:
    store = RunStore(url)
    failures: list[str] = []
    bus = EventBus()
    bus.subscribe(store.recorder(), recorder=True)
    bus.on_record_failure(lambda event, reason: failures.append(reason))
    return store, bus, failures


def database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def cut_connections(server: Postgres, name: str) -> None:
    server.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", name
    )


def test_a_dropped_connection_is_replaced_and_the_run_stays_recorded(postgres, postgres_url):
    store, bus, failures = recording(postgres_url)
    try:
        run_id = new_id()
        start_run(bus, run_id)
        cut_connections(postgres, database(postgres_url))
        emit_sample(bus, run_id, 0)
        assert failures == []
        assert len(store.get_run(run_id).samples) == 1
    finally:
        store.close()


def test_a_server_that_refuses_the_run_fails_the_next_write_in_seconds(postgres, postgres_url):
    store, bus, failures = recording(postgres_url)
    name = database(postgres_url)
    try:
        run_id = new_id()
        start_run(bus, run_id)
        postgres.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        cut_connections(postgres, name)
        started = time.monotonic()
        emit_sample(bus, run_id, 0)
        assert time.monotonic() - started < 6
        assert len(failures) == 1
        assert failures[0].startswith("cannot write probe.sample to the run store: ")
        assert "secret" not in failures[0]
    finally:
        postgres.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        store.close()
