"""The PostgreSQL session advisory lock that elects the one controller allowed to fire
schedules: an existing mechanism of the database, held on a connection of its own."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from chaos.store.repository import RunStore


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock, held on a connection of its own.

    Its engine is separate from the store's so that its connection has tight keepalives
    on both ends: a leader whose database link dies notices within seconds (client side),
    and the server drops the dead session, releasing the lock, within ~15 s (server side).
    """

    def __init__(self, store: RunStore, key: int) -> None:
        self._key = key
        self._engine = create_engine(
            store.engine.url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 2,
                "tcp_user_timeout": 5000,
                "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
                "-c tcp_keepalives_count=3 -c tcp_user_timeout=10000",
            },
        )
        self._connection: Any = None
        self._lock = threading.Lock()  # one connection, asked from several threads

    @property
    def held(self) -> bool:
        return self._connection is not None

    def try_acquire(self) -> bool:
        """True if this process now holds the lock (never waits for it)."""
        if self._connection is not None:
            return self.check()
        with self._lock:
            return self._acquire()

    def _acquire(self) -> bool:
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError:
            return False
        try:
            query = text("SELECT pg_try_advisory_lock(:key)")
            got = bool(connection.execute(query, {"key": self._key}).scalar())
        except SQLAlchemyError:
            connection.invalidate()
            connection.close()
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def check(self) -> bool:
        """Whether the lock is still held: its session still answers (session-level locks
        live as long as the session). A dead connection loses the lock."""
        with self._lock:
            if self._connection is None:
                return False
            try:
                self._connection.execute(text("SELECT 1")).scalar()
                return True
            except SQLAlchemyError:
                self._drop()
                return False

    def backend_pid(self) -> int | None:
        """The server process of the lock's session (tests terminate it to cut the link)."""
        with self._lock:
            if self._connection is None:
                return None
            return int(self._connection.execute(text("SELECT pg_backend_pid()")).scalar())

    def release(self) -> None:
        with self._lock:
            if self._connection is None:
                return
            try:
                unlock = text("SELECT pg_advisory_unlock(:key)")
                self._connection.execute(unlock, {"key": self._key})
                self._connection.close()
            except SQLAlchemyError:
                self._drop()
            self._connection = None

    def close(self) -> None:
        self.release()
        self._engine.dispose()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.invalidate()
            connection.close()
