"""Blackout windows: recurring (cron start + length) and absolute, in the schedule's zone."""

from __future__ import annotations

from datetime import datetime

import pytest

from chaos.errors import UsageError
from chaos.schedule.blackout import blackout_at, parse_blackout
from chaos.schedule.triggers import zone

PARIS = zone("Europe/Paris")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS)  # 2026-11-16 is a Monday


def test_a_nightly_window_spans_midnight():
    nightly = (parse_blackout("0 22 * * * 8h", timezone="Europe/Paris"),)
    assert blackout_at(nightly, at(16, 21, 59)) is None
    assert blackout_at(nightly, at(16, 22)) == (
        "blackout '0 22 * * * 8h' (2026-11-16 22:00:00 to 2026-11-17 06:00:00 Europe/Paris)"
    )
    assert "2026-11-16 22:00:00" in blackout_at(nightly, at(17, 5, 59))
    assert blackout_at(nightly, at(17, 6)) is None  # the end is not in the window


def test_office_hours_on_weekdays_only():
    office = (parse_blackout("0 9 * * 1-5 8h", timezone="Europe/Paris"),)
    assert blackout_at(office, at(16, 12)) is not None  # Monday noon
    assert blackout_at(office, at(21, 12)) is None  # Saturday noon
    assert blackout_at(office, at(16, 17, 30)) is None


def test_an_absolute_range_in_the_schedules_zone_unless_it_has_an_offset():
    freeze = parse_blackout("2026-11-20T00:00..2026-11-23T00:00", timezone="Europe/Paris")
    assert blackout_at((freeze,), at(19, 23, 59)) is None
    assert blackout_at((freeze,), at(20, 0)) is not None
    utc = parse_blackout("2026-11-20T00:00+00:00..2026-11-21T00:00+00:00", timezone="Europe/Paris")
    assert blackout_at((utc,), at(20, 0, 30)) is None  # 23:30 UTC the day before
    assert blackout_at((utc,), at(20, 1, 30)) is not None


def test_the_first_window_that_covers_it_is_named():
    windows = tuple(
        parse_blackout(text, timezone="Europe/Paris")
        for text in ("0 3 * * * 1h", "2026-11-16T00:00..2026-11-17T00:00")
    )
    assert "0 3 * * * 1h" in blackout_at(windows, at(16, 3, 30))
    assert "2026-11-16T00:00..2026-11-17T00:00" in blackout_at(windows, at(16, 12))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8h", "expected 'CRON DURATION'"),
        ("0 22 * * *", "the last word must be its length"),
        ("0 22 * * * 0s", "the length must be positive"),
        ("0 25 * * * 1h", 'field 2 (hour) "25"'),
        ("2026-11-20..soon", "'soon' is not an ISO 8601 date-time"),
        ("2026-11-20..2026-11-19", "the end must come after the start"),
    ],
)
def test_malformed_windows_are_refused(text, message):
    with pytest.raises(UsageError) as raised:
        parse_blackout(text, timezone="UTC")
    assert message in str(raised.value)
