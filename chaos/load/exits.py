"""Why a Locust process ended, in words a user can act on: its exit, its error, its log.

Each Locust process the controller starts (:mod:`chaos.load.process`) writes its
output to a log file of its own; when one ends, or Locust reports an error, the message
quotes the error line it printed and the end of that log. Pure: no Locust here.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

LOG_TAIL_LINES = 20
STANDALONE = "standalone"  # the role of a Locust without workers
ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 64 * 1024))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def describe_exit(role: str, code: int | None, log: Path) -> str:
    """Why a Locust process ended, with the error it printed and the end of its log."""
    who = f"Locust {role}" if role != STANDALONE else "Locust"
    if code is None:
        what = f"{who} stopped streaming windows"
    elif code < 0:
        what = f"{who} exited with code {code} ({signal.Signals(-code).name})"
    else:
        what = f"{who} exited with code {code}"
    tail = log_tail(log)
    errors = [line for line in tail if ERROR_LINE.match(line)]
    if errors:
        what += f": {errors[-1]}"
    return with_log(what, log, tail)


def with_log(message: str, log: Path, tail: list[str] | None = None) -> str:
    tail = log_tail(log) if tail is None else tail
    if not tail:
        return message
    return f"{message}\n--- last lines of {log} ---\n" + "\n".join(tail)
