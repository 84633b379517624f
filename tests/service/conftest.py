"""A controller service on uvicorn in a thread, on 127.0.0.1:<free port>, over a real
SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.service.api import ServiceState
from chaos.service.auth import ControllerAuth
from chaos.service.server import ControllerServer
from chaos.store.repository import RunStore, sqlite_url

TOKEN = "s3cret-controller-token"


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ControllerServer]]:
    started: list[tuple[ControllerServer, threading.Thread]] = []

    def start(store: RunStore | None = None, **state: object) -> ControllerServer:
        store = store or RunStore(sqlite_url(tmp_path / "runs.db"))
        state.setdefault("auth", ControllerAuth(token=TOKEN))
        ssl_context = state.pop("ssl_context", None)
        server = ControllerServer(
            ("127.0.0.1", 0), ServiceState(store=store, **state), ssl_context=ssl_context
        )
        thread = threading.Thread(target=server.serve_forever, name="controller-test")
        thread.start()
        started.append((server, thread))
        return server

    try:
        yield start
    finally:
        for server, thread in started:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            server.store.close()
