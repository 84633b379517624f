"""Where the platform keeps its data: $CHAOS_HOME and the run store URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import UsageError

if TYPE_CHECKING:
    from chaos.store.repository import RunStore


def chaos_home() -> Path:
    """``$CHAOS_HOME``, else ``$XDG_DATA_HOME/chaos``, else ``~/.local/share/chaos``."""
    if os.environ.get("CHAOS_HOME"):
        return Path(os.environ["CHAOS_HOME"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "chaos"


def database_url(option: str | None) -> str:
    """``--db``, else ``$CHAOS_DB``, else SQLite in ``$CHAOS_HOME/chaos.db``."""
    for given, where in ((option, "--db"), (os.environ.get("CHAOS_DB"), "$CHAOS_DB")):
        if given:
            if "://" not in given:  # not echoed: it may be a mistyped URL with a password
                raise UsageError(
                    f"{where} takes a database URL (sqlite:///PATH or "
                    "postgresql+psycopg://HOST/DB), not a plain path"
                )
            return given
    return f"sqlite:///{chaos_home() / 'chaos.db'}"


def open_store(db: str | None, *, reading: bool) -> RunStore:
    """The run store of ``--db``/``$CHAOS_DB``/``$CHAOS_HOME``. A command that only reads
    (``reading``) refuses a SQLite store that does not exist (NotFoundError, exit 2):
    a mistyped path must not answer "no runs" from a new empty store made on the spot.
    A store that cannot be opened or read is a StoreError (exit 4), one line."""
    from chaos.store.repository import RunStore

    return RunStore(database_url(db), create=not reading)
