"""Blackout windows: times a schedule must not fire (a release freeze, business hours,
the nightly backup). A firing inside one is recorded as skipped, naming the window.

Two forms, as the user writes them on ``--blackout``:

- recurring: a cron expression (5 or 6 fields, as for ``--cron``) for when the window
  opens, then how long it stays open: ``"0 22 * * * 8h"`` (every night 22:00-06:00),
  ``"0 0 * * sat 48h"`` (weekends), ``"0 9 * * 1-5 8h"`` (office hours);
- absolute: ``START..END`` in ISO 8601, in the schedule's time zone unless they carry
  an offset: ``"2025-12-20T00:00..2026-01-05T00:00"``.

Windows are read in the schedule's time zone and include their start, not their end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from chaos.errors import UsageError
from chaos.schedule.triggers import cron_trigger, zone
from chaos.spec.units import parse_duration

_MAX_STEPS = 100  # start times looked at per check: a window whose cron fires more often
# than its own length is always open after the first; 100 steps settles it


@dataclass(frozen=True)
class Blackout:
    text: str
    timezone: str
    opens: CronTrigger | None = None  # recurring
    length: timedelta = timedelta(0)
    start: datetime | None = None  # absolute
    end: datetime | None = None

    def covering(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The window (start, end) that contains ``at``, or None."""
        if self.opens is None:
            assert self.start is not None and self.end is not None
            return (self.start, self.end) if self.start <= at < self.end else None
        opening = self.opens.get_next_fire_time(None, at - self.length)
        for _ in range(_MAX_STEPS):
            if opening is None or opening > at:
                return None
            if opening + self.length > at:
                return opening, opening + self.length
            opening = self.opens.get_next_fire_time(opening, opening + timedelta(seconds=1))
        return None

    def describe(self, window: tuple[datetime, datetime]) -> str:
        start, end = (moment.astimezone(zone(self.timezone)) for moment in window)
        stamp = "%Y-%m-%d %H:%M:%S"
        return f"blackout {self.text!r} ({start:{stamp}} to {end:{stamp}} {self.timezone})"


def parse_blackout(text: str, *, timezone: str) -> Blackout:
    spec = " ".join(text.split())
    if ".." in spec:
        return _absolute(spec, timezone)
    cron, _, length = spec.rpartition(" ")
    if not cron:
        raise UsageError(
            f"--blackout {text!r}: expected 'CRON DURATION' (e.g. '0 22 * * * 8h') "
            "or 'START..END' (ISO 8601)"
        )
    try:
        seconds = parse_duration(length)
    except ValueError as exc:
        raise UsageError(f"--blackout {text!r}: the last word must be its length: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--blackout {text!r}: the length must be positive")
    try:
        opens = cron_trigger(cron, timezone)
    except UsageError as exc:
        raise UsageError(f"--blackout {text!r}: {exc}") from None
    return Blackout(text=spec, timezone=timezone, opens=opens, length=timedelta(seconds=seconds))


def _absolute(spec: str, timezone: str) -> Blackout:
    first, _, second = spec.partition("..")
    moments = []
    for part in (first, second):
        try:
            moment = datetime.fromisoformat(part.strip())
        except ValueError:
            raise UsageError(
                f"--blackout {spec!r}: {part.strip()!r} is not an ISO 8601 date-time "
                "(e.g. 2025-12-24T00:00)"
            ) from None
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=zone(timezone)))
    start, end = moments
    if end <= start:
        raise UsageError(f"--blackout {spec!r}: the end must come after the start")
    return Blackout(text=spec, timezone=timezone, start=start, end=end)


def blackout_at(blackouts: tuple[Blackout, ...], at: datetime) -> str | None:
    """Why ``at`` is blacked out (the first window containing it), or None."""
    for blackout in blackouts:
        window = blackout.covering(at)
        if window is not None:
            return blackout.describe(window)
    return None
