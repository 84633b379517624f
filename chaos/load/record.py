"""Each request of a Locust process, recorded into the window of the second it completed in.

Pure: no Locust, no gevent. The plugin (:mod:`chaos.load.plugin`) turns Locust's
``request`` events into plain values (completion time, response time, failure message)
and decides when seconds close; this module keeps the counts. A second is keyed by
``int(completion time)`` of the process that made the request.

:class:`RawLog` is the optional audit trail: one ``[completion_time, response_time_ms,
ok]`` JSON line per request in ``requests-<pid>.jsonl``, so the windows can be checked
against the raw requests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from chaos.load.stats import MAX_ERROR_KINDS, OTHER_ERRORS, LoadWindow, bucket_us


class _OpenWindow:
    """The requests of one second so far (mutable; frozen into a LoadWindow when closed)."""

    __slots__ = ("errors", "failures", "histogram", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.histogram: dict[int, int] = {}
        self.errors: dict[str, int] = {}

    def add_error(self, message: str) -> None:
        if message not in self.errors and len(self.errors) >= MAX_ERROR_KINDS:
            message = OTHER_ERRORS
        self.errors[message] = self.errors.get(message, 0) + 1

    def freeze(self, second: int, users: int | None) -> LoadWindow:
        return LoadWindow(second, self.requests, self.failures, self.histogram, self.errors, users)


class RawLog:
    """Per-request audit lines of this process (buffered; flushed once a second)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = open(  # noqa: SIM115 (open for the life of the process)
            directory / f"requests-{os.getpid()}.jsonl", "a", encoding="utf-8"
        )

    def write(self, completed_at: float, response_time_ms: float, ok: bool) -> None:
        if self._file is not None:
            self._file.write(
                f"[{completed_at!r}, {response_time_ms!r}, {'true' if ok else 'false'}]\n"
            )

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Recorder:
    """Every request of this process, in the window of the second it completed in."""

    def __init__(self, raw_log: RawLog | None) -> None:
        self._open: dict[int, _OpenWindow] = {}
        self._raw_log = raw_log

    def record(self, completed_at: float, response_time_ms: float, error: str | None) -> None:
        """One request; ``error`` is its failure message, None if it succeeded.

        On Locust's hot path (once per request), so kept to a few dict operations.
        """
        second = int(completed_at)
        window = self._open.get(second)
        if window is None:
            window = self._open[second] = _OpenWindow()
        window.requests += 1
        bucket = bucket_us(response_time_ms)
        window.histogram[bucket] = window.histogram.get(bucket, 0) + 1
        if error is not None:
            window.failures += 1
            window.add_error(error)
        if self._raw_log is not None:
            self._raw_log.write(completed_at, response_time_ms, error is None)

    def take(self, through: int) -> dict[int, _OpenWindow]:
        """Remove and return the windows of every second up to ``through``."""
        closed = {second: window for second, window in self._open.items() if second <= through}
        for second in closed:
            del self._open[second]
        if self._raw_log is not None:
            self._raw_log.flush()
        return closed

    def close(self) -> None:
        if self._raw_log is not None:
            self._raw_log.close()


def close_seconds(
    recorder: Recorder, first: int, through: int, users: int | None
) -> tuple[list[LoadWindow], list[LoadWindow]]:
    """(every second first..through, empty ones included; windows of seconds before first).

    Seconds before ``first`` were already closed: their windows are late data, sent
    without a user count so that merging keeps the on-time one.
    """
    taken = recorder.take(through)
    late = [taken[second].freeze(second, None) for second in sorted(taken) if second < first]
    on_time = [
        taken[second].freeze(second, users)
        if second in taken
        else LoadWindow(second, 0, 0, users=users)
        for second in range(first, through + 1)
    ]
    return on_time, late
