"""The controller's end of the Locust pipe: read it on one thread, call back on another.

The master (or standalone) Locust process writes JSON lines to a pipe; the protocol is
documented in :mod:`chaos.load.plugin`, with the code that writes it. One thread drains
the pipe into a queue at once, so Locust never blocks on a full pipe, and meanwhile
watches the local workers; a second thread turns what was queued into callbacks, so a
slow callback delays the next one but never the reading. End of file means the master
has gone (it holds the only write end).

Every problem is passed on as it comes, possibly several: an ``error`` line, a worker
that exited, the master's exit. Which of them counts, and whether the run is still
starting or already stopping, is for :class:`~chaos.load.process.LoadProcess` to decide.
No Locust here.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.load.exits import describe_exit, with_log
from chaos.load.stats import LoadWindow

WATCH_INTERVAL_S = 0.2

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadReady:
    """Locust reported every user running (and every expected worker connected)."""

    users: int
    workers: int
    started_at: float  # time.time() when the controller heard it


@dataclass(frozen=True)
class LocustChild:
    """One Locust process the controller started."""

    role: str  # STANDALONE, "master", "worker 1", ...
    popen: subprocess.Popen[bytes]
    log: Path


LINE_TYPES: dict[str, Callable[[dict[str, Any]], LoadWindow | LoadReady | str]] = {
    "window": LoadWindow.from_json,
    "ready": lambda line: LoadReady(int(line["users"]), int(line["workers"]), time.time()),
    "error": lambda line: str(line["message"]),
}


class LocustStream:
    """The pipe of ``children[0]`` (master or standalone) and the exits of the others.

    ``children`` is read live: workers appended to it after :meth:`start` are watched
    too. ``on_window`` and ``on_ready`` get each line of that type; ``on_problem`` gets
    a user-facing reason, with the log's end, for every ``error`` line and every exit.
    All three run on the dispatching thread, in the order things happened.
    """

    def __init__(
        self,
        read_fd: int,
        children: list[LocustChild],
        *,
        on_window: Callable[[LoadWindow], None],
        on_ready: Callable[[LoadReady], None],
        on_problem: Callable[[str], None],
    ) -> None:
        self._children = children
        self._on_window = on_window
        self._on_ready = on_ready
        self._on_problem = on_problem
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(
                target=self._read_pipe, args=(read_fd,), name="locust-pipe", daemon=True
            ),
            threading.Thread(target=self._dispatch, name="locust-events", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, deadline: float) -> None:
        """Wait for both threads until ``deadline`` (``time.monotonic()``), 1 s each at least."""
        for thread in self._threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))

    # ------------------------------------------------------------ reading (thread 1)

    def _read_pipe(self, fd: int) -> None:
        """Drain the pipe into the event queue at once; watch the local workers meanwhile."""
        pending = b""
        reported: set[str] = set()
        try:
            while True:
                readable, _, _ = select.select([fd], [], [], WATCH_INTERVAL_S)
                if readable:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        break
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        self._events.put(("line", line))
                self._watch_workers(reported)
        finally:
            os.close(fd)
            self._events.put(("master_exit", None))

    def _watch_workers(self, reported: set[str]) -> None:
        for locust in self._children[1:]:
            if locust.role not in reported and locust.popen.poll() is not None:
                reported.add(locust.role)
                self._events.put(
                    ("exit", describe_exit(locust.role, locust.popen.returncode, locust.log))
                )

    # ------------------------------------------------------------ dispatching (thread 2)

    def _dispatch(self) -> None:
        handlers: dict[str, Callable[[Any], bool]] = {
            "line": self._handle_line,
            "exit": self._handle_exit,
            "master_exit": self._handle_master_exit,
        }
        while True:
            kind, payload = self._events.get()
            if not handlers[kind](payload):
                return

    def _handle_line(self, raw: bytes) -> bool:
        try:
            line = json.loads(raw)
            value = LINE_TYPES[line["type"]](line)
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring a malformed line from Locust: %r", raw[:200])
            return True
        if isinstance(value, LoadWindow):
            self._deliver_window(value)
        elif isinstance(value, LoadReady):
            self._on_ready(value)
        else:
            self._on_problem(with_log(f"Locust reported: {value}", self._children[0].log))
        return True

    def _deliver_window(self, window: LoadWindow) -> None:
        try:
            self._on_window(window)
        except Exception:  # a consumer bug must not stop the stream
            logger.exception("on_window callback failed for second %d", window.second)

    def _handle_exit(self, reason: str) -> bool:
        self._on_problem(reason)
        return True

    def _handle_master_exit(self, _payload: None) -> bool:
        main = self._children[0]
        try:
            code: int | None = main.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        self._on_problem(describe_exit(main.role, code, main.log))
        return False
