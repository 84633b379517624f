"""Never two runs whose targets overlap at once.

Before a scheduled run starts it claims its targets here. The claim is refused while a
run that could touch the same things is in progress: one this scheduler started (its
claims, held from the decision until the run has ended, so two firings in the same
second cannot both pass) or any other the store says is running (``chaos run`` in a
terminal, another controller). A ``queue`` firing waits for the conflict to clear, up
to its limit; a ``skip`` firing is refused at once.

A run the store still calls running because its process died on another host (a store
only notices dead processes on its own host) keeps blocking overlapping schedules:
safe, and visible in every refusal.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from chaos.schedule.overlap import Reach, first_overlap, reaches
from chaos.store.schedules import ScheduleStore

POLL_S = 0.5


@dataclass(frozen=True)
class Conflict:
    run_id: str
    experiment: str
    mine: Reach
    theirs: Reach | None  # None: the other run's targets could not be read

    def describe(self) -> str:
        theirs = self.theirs.describe() if self.theirs else "targets unreadable"
        return f"overlaps run {self.run_id} ({self.experiment}): {self.mine.describe()} vs {theirs}"


class RunGuard:
    def __init__(self, schedules: ScheduleStore, *, poll_s: float = POLL_S) -> None:
        self._schedules = schedules
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._claims: dict[str, tuple[str, tuple[Reach, ...]]] = {}

    def claim(
        self,
        run_id: str,
        *,
        experiment: str,
        reach: tuple[Reach, ...],
        wait_s: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Conflict | None:
        """Claim ``reach`` for ``run_id``; the conflict that prevented it, if any."""
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                conflict = self._conflict(reach)
                if conflict is None:
                    self._claims[run_id] = (experiment, reach)
                    return None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.wait(min(self._poll_s, remaining))):
                return conflict
            if stop is None:
                time.sleep(min(self._poll_s, remaining))

    def release(self, run_id: str) -> None:
        with self._lock:
            self._claims.pop(run_id, None)

    def _conflict(self, reach: tuple[Reach, ...]) -> Conflict | None:
        for run_id, (experiment, claimed) in self._claims.items():
            pair = first_overlap(reach, claimed)
            if pair is not None:
                return Conflict(run_id, experiment, *pair)
        for running in self._schedules.running_runs():
            if running.id in self._claims:
                continue
            theirs = None if running.targets is None else reaches(running.targets, lab=running.lab)
            pair = first_overlap(reach, theirs)
            if pair is not None:
                return Conflict(running.id, running.experiment, *pair)
        return None
