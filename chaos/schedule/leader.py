"""One scheduler fires, however many controllers share the store.

- PostgreSQL: the controller holding a session-level advisory lock
  (``pg_try_advisory_lock(LOCK_KEY)``) on a connection of its own leads. Followers try
  again every poll; the leader checks its connection every poll and before every firing.
  A lost connection is lost leadership: the server drops the session's locks with it.
- SQLite: one host, one file. The controller holding an exclusive ``flock`` on
  ``<database>.scheduler.lock`` leads, so a second ``chaos controller serve`` on the same
  file waits instead of firing everything twice. The kernel releases the lock when its
  process dies.
- Anything else (in-memory SQLite, other databases): the single controller leads; run
  one only.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import IO, Protocol

from chaos.store.locks import AdvisoryLock
from chaos.store.repository import RunStore

LOCK_KEY = int.from_bytes(b"chaos-sc", "big")  # the advisory lock's key, shared by every replica


class Leadership(Protocol):
    def try_lead(self) -> bool:
        """Take (or keep) leadership if free; True while this controller leads."""
        ...

    def confirm(self) -> bool:
        """Whether this controller still leads (cheap enough to ask before each firing)."""
        ...

    def release(self) -> None: ...


class Solo:
    def try_lead(self) -> bool:
        return True

    def confirm(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLeadership:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def try_lead(self) -> bool:
        if self._file is not None:
            return True
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def confirm(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class PostgresLeadership:
    def __init__(self, store: RunStore) -> None:
        self.lock = AdvisoryLock(store, LOCK_KEY)

    def try_lead(self) -> bool:
        return self.lock.try_acquire()

    def confirm(self) -> bool:
        return self.lock.check()

    def release(self) -> None:
        self.lock.close()


def leadership_for(store: RunStore) -> Leadership:
    url = store.url
    if url.startswith("postgresql"):
        return PostgresLeadership(store)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        database = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        return FileLeadership(database.with_name(database.name + ".scheduler.lock"))
    return Solo()
