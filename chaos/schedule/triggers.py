"""When a schedule fires: cron expressions (5 fields, or 6 with seconds first) and fixed
intervals, turned into APScheduler triggers in the schedule's time zone.

Cron is read as crontab(5) reads it, not as APScheduler 3 does: day-of-week numbers
count from Sunday (0 or 7 = Sunday, 1 = Monday), so ``1-5`` is Monday to Friday;
APScheduler 3 counts from Monday, so numbers are translated to day names here.
Restricting both day-of-month and day-of-week is refused: crontab fires when either
matches, APScheduler only when both do, and a schedule must not mean something else
than it says. Errors name the field: ``field 2 (hour) "25": ...``. An expression whose
fields are each valid but never meet (``0 0 31 2 *``: 31 February) is refused too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from chaos.errors import UsageError
from chaos.spec.units import parse_duration

CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
CRON_FIELDS_WITH_SECONDS = ("second", *CRON_FIELDS)
_APSCHEDULER_NAMES = {
    "second": "second",
    "minute": "minute",
    "hour": "hour",
    "day of month": "day",
    "month": "month",
    "day of week": "day_of_week",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")
MIN_INTERVAL_S = 1.0


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r} (an IANA name such as Europe/Paris)"
        ) from None


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab expression (5 fields, or 6 with seconds first) as an APScheduler trigger."""
    parts = expression.split()
    if len(parts) not in (5, 6):
        raise UsageError(
            f"cron {expression!r}: expected 5 fields (minute hour day-of-month month "
            f"day-of-week) or 6 with seconds first, got {len(parts)}"
        )
    names = CRON_FIELDS if len(parts) == 5 else CRON_FIELDS_WITH_SECONDS
    fields = dict(zip(names, parts, strict=True))
    if fields["day of month"] != "*" and fields["day of week"] != "*":
        raise UsageError(
            f"cron {expression!r}: restrict day of month or day of week, not both "
            "(crontab fires when either matches, APScheduler only when both do)"
        )
    kwargs: dict[str, str] = {}
    for position, (name, value) in enumerate(fields.items(), start=1):
        try:
            translated = weekdays(value) if name == "day of week" else value
            CronTrigger(**{_APSCHEDULER_NAMES[name]: translated}, timezone=UTC)
        except ValueError as exc:
            raise UsageError(
                f'cron {expression!r}: field {position} ({name}) "{value}": {exc}'
            ) from None
        kwargs[_APSCHEDULER_NAMES[name]] = translated
    if len(parts) == 5:
        kwargs["second"] = "0"
    trigger = CronTrigger(**kwargs, timezone=zone(timezone))
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        # e.g. "0 0 31 2 *": each field is valid, but no date has them all
        raise UsageError(f"cron {expression!r} never fires: no date matches every field")
    return trigger


def weekdays(field: str) -> str:
    """A crontab day-of-week field (Sunday = 0 or 7) as APScheduler day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DAY_ITEM.match(item)
        if match is None:
            raise ValueError(f"{item!r} is not a day, a range or a step")
        low, high = (0, 6) if match["range"] == "*" else _day_range(match["range"])
        step = int(match["step"] or 1)
        if step < 1:
            raise ValueError("a step must be at least 1")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_DAYS[day] for day in sorted(days))


def _day_range(text: str) -> tuple[int, int]:
    ends = [_day(part) for part in text.split("-")]
    low, high = ends[0], ends[-1]
    if high < low:
        raise ValueError(f"range {text!r} runs backwards")
    return low, high


def _day(text: str) -> int:
    if text in _DAYS:
        return _DAYS.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"{text!r} is not a day (0-7, Sunday = 0 or 7, or sun-sat)")


def interval_seconds(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--every {text!r}: {exc}") from None
    if seconds < MIN_INTERVAL_S:
        raise UsageError(f"--every {text!r}: the shortest interval is 1s")
    return seconds


def stored_trigger(*, cron: str | None, every: str | None, timezone: str) -> str:
    """Validate the user's choice and return its stored form: ``cron …`` or ``every …``."""
    if (cron is None) == (every is None):
        raise UsageError("give exactly one of --cron and --every")
    zone(timezone)
    if cron is not None:
        cron_trigger(cron, timezone)
        return "cron " + " ".join(cron.split())
    interval_seconds(every or "")
    return f"every {(every or '').strip()}"


def build_trigger(stored: str, *, timezone: str, start: float) -> BaseTrigger:
    """The APScheduler trigger of a stored schedule; intervals count from ``start``."""
    kind, _, rest = stored.partition(" ")
    if kind == "cron":
        return cron_trigger(rest, timezone)
    seconds = interval_seconds(rest)
    begin = datetime.fromtimestamp(start, tz=zone(timezone)) + timedelta(seconds=seconds)
    return IntervalTrigger(seconds=seconds, start_date=begin, timezone=zone(timezone))


def next_fire(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after``."""
    return trigger.get_next_fire_time(None, after + timedelta(microseconds=1))


def fire_times_between(
    trigger: BaseTrigger, start: datetime, end: datetime, *, limit: int
) -> list[datetime]:
    """Fire times strictly between ``start`` and ``end``, at most ``limit`` of them."""
    found: list[datetime] = []
    current = next_fire(trigger, start)
    while current is not None and current < end and len(found) < limit:
        found.append(current)
        current = next_fire(trigger, current)
    return found
