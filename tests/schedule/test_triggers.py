"""Cron expressions read as crontab(5) reads them, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chaos.errors import UsageError
from chaos.schedule.triggers import (
    build_trigger,
    cron_trigger,
    fire_times_between,
    next_fire,
    stored_trigger,
)

MONDAY = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC


def fires(expression: str, after: datetime = MONDAY, count: int = 3, tz: str = "UTC") -> list[str]:
    trigger = cron_trigger(expression, tz)
    found, current = [], after
    for _ in range(count):
        current = next_fire(trigger, current)
        found.append(current.astimezone(UTC).strftime("%a %H:%M:%S"))
    return found


def test_weekday_numbers_count_from_sunday_as_in_crontab():
    # APScheduler 3 alone would read 1-5 as Tuesday-Saturday
    assert fires("0 9 * * 1-5", count=6) == [
        "Mon 09:00:00", "Tue 09:00:00", "Wed 09:00:00", "Thu 09:00:00", "Fri 09:00:00",
        "Mon 09:00:00",
    ]  # fmt: skip
    assert fires("0 9 * * 0", count=1) == fires("0 9 * * 7", count=1) == ["Sun 09:00:00"]
    assert fires("0 9 * * sat,sun", count=2) == ["Sat 09:00:00", "Sun 09:00:00"]


def test_six_fields_put_seconds_first():
    assert fires("*/20 * * * * *") == ["Mon 08:00:20", "Mon 08:00:40", "Mon 08:01:00"]
    assert fires("*/5 * * * *") == ["Mon 08:05:00", "Mon 08:10:00", "Mon 08:15:00"]


def test_the_time_zone_is_the_schedules():
    early = MONDAY.replace(hour=7)
    assert fires("0 9 * * *", early, tz="Europe/Paris", count=1) == ["Mon 08:00:00"]  # 09:00 CET


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("*/5 25 * * *", 'field 2 (hour) "25"'),
        ("61 * * * * *", 'field 1 (second) "61"'),
        ("0 0 * 13 *", 'field 4 (month) "13"'),
        ("0 0 * * 8", "field 5 (day of week) \"8\": '8' is not a day"),
        ("x * * * *", 'field 1 (minute) "x"'),
        ("* * * *", "expected 5 fields"),
        ("0 0 1 * mon", "restrict day of month or day of week, not both"),
    ],
)
def test_a_malformed_cron_names_its_field(expression, message):
    with pytest.raises(UsageError, match="cron") as raised:
        cron_trigger(expression, "UTC")
    assert message in str(raised.value)


def test_stored_form_and_choice():
    assert stored_trigger(cron=" */5  * * * * ", every=None, timezone="UTC") == "cron */5 * * * *"
    assert stored_trigger(cron=None, every="2s", timezone="UTC") == "every 2s"
    for cron, every in ((None, None), ("* * * * *", "2s")):
        with pytest.raises(UsageError, match="exactly one of --cron and --every"):
            stored_trigger(cron=cron, every=every, timezone="UTC")
    with pytest.raises(UsageError, match="unknown time zone 'Mars/Olympus'"):
        stored_trigger(cron="* * * * *", every=None, timezone="Mars/Olympus")
    with pytest.raises(UsageError, match="shortest interval is 1s"):
        stored_trigger(cron=None, every="500ms", timezone="UTC")
    with pytest.raises(UsageError, match="--every 'often'"):
        stored_trigger(cron=None, every="often", timezone="UTC")


def test_intervals_count_from_when_the_schedule_became_active():
    start = MONDAY.timestamp()
    trigger = build_trigger("every 90s", timezone="UTC", start=start)
    times = fire_times_between(trigger, MONDAY, MONDAY.replace(minute=5), limit=10)
    assert [t.strftime("%M:%S") for t in times] == ["01:30", "03:00", "04:30"]
    assert len(fire_times_between(trigger, MONDAY, MONDAY.replace(hour=20), limit=5)) == 5


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 30 2 *", "59 23 31 4,6,9,11 *"])
def test_a_cron_that_can_never_fire_is_refused(expression):
    with pytest.raises(UsageError) as raised:
        stored_trigger(cron=expression, every=None, timezone="UTC")
    assert str(raised.value) == f"cron {expression!r} never fires: no date matches every field"
    assert stored_trigger(cron="0 0 29 2 *", every=None, timezone="UTC") == "cron 0 0 29 2 *"
