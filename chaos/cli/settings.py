"""Where the platform keeps its data: $CHAOS_HOME and the run store URL."""

from __future__ import annotations

import os
from pathlib import Path


def chaos_home() -> Path:
    """``$CHAOS_HOME``, else ``$XDG_DATA_HOME/chaos``, else ``~/.local/share/chaos``."""
    if os.environ.get("CHAOS_HOME"):
        return Path(os.environ["CHAOS_HOME"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "chaos"


def database_url(option: str | None) -> str:
    """``--db``, else ``$CHAOS_DB``, else SQLite in ``$CHAOS_HOME/chaos.db``."""
    if option:
        return option
    if os.environ.get("CHAOS_DB"):
        return os.environ["CHAOS_DB"]
    return f"sqlite:///{chaos_home() / 'chaos.db'}"
