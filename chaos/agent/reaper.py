"""The thread that drives lease expiry: it must never die quietly.

It calls ``tick`` after sleeping ``next_wake()`` seconds (or sooner, when woken: a new
lease may expire first). A tick that raises is logged and the next one runs; anything
that still escapes the loop (a ``BaseException``) sets ``failed``, which the agent's
serve loop turns into a shutdown with exit code 4, so a supervisor restarts it.
``problem()`` says whether it is dead or late, for ``/healthz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

LATE_S = 5.0  # a tick comes at least every second; this late, health says so


class Reaper:
    def __init__(
        self, *, tick: Callable[[], None], next_wake: Callable[[], float], name: str
    ) -> None:
        self._tick = tick
        self._next_wake = next_wake
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_tick = time.monotonic()
        self.failed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._last_tick = time.monotonic()
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, *, timeout: float = 2) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def alive(self) -> bool:
        return self._thread.is_alive() and not self.failed.is_set()

    def describe(self) -> dict[str, Any]:
        return {
            "alive": self.alive(),
            "last_tick_age_s": round(time.monotonic() - self._last_tick, 3),
        }

    def problem(self) -> str | None:
        """ "reaper dead" or "reaper late" while leases may not expire on time, else None."""
        if self.failed.is_set() or (self._thread.ident and not self._thread.is_alive()):
            return "reaper dead"
        if time.monotonic() - self._last_tick > LATE_S:
            return "reaper late"
        return None

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(self._next_wake())
                self._wake.clear()
                if self._stop.is_set():
                    return
                try:
                    self._tick()
                except Exception:
                    log.exception("%s: this pass failed; the next one runs", self._thread.name)
                self._last_tick = time.monotonic()
        except BaseException:
            log.critical("%s died: leases no longer expire", self._thread.name, exc_info=True)
            self.failed.set()
