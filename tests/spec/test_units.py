import pytest

from chaos.spec.units import (
    ModeKind,
    parse_duration,
    parse_limit,
    parse_mode,
    parse_threshold,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("200ms", 0.2), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("1m30s", 90.0), ("1.5s", 1.5)],
)
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "30", 30, "-5s", "5 s", "10q", "s", True, None])
def test_bad_durations_are_refused_with_a_hint(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_thresholds_compare_like_they_read():
    assert parse_threshold("< 300").holds(299.9)
    assert not parse_threshold("< 300").holds(300)
    assert parse_threshold(">= 0.99").holds(0.99)
    assert parse_threshold("== 200").holds(200)
    assert parse_threshold("!= 0").holds(1)
    assert not parse_threshold("< 1").holds(float("nan"))


def test_threshold_units_scale_to_ms_and_ratio():
    assert parse_threshold("< 1s").value == 1000
    assert parse_threshold("< 1%").value == pytest.approx(0.01)
    assert str(parse_threshold("<=300")) == "<= 300"


@pytest.mark.parametrize("bad", ["300", "< ", "~ 3", "< abc", 5])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match="threshold"):
        parse_threshold(bad)


def test_modes_pick_the_right_number_of_targets():
    assert parse_mode("all").pick_count(5) == 5
    assert parse_mode("one").pick_count(5) == 1
    assert parse_mode("one").pick_count(0) == 0
    assert parse_mode("count:2").pick_count(5) == 2
    assert parse_mode("count:9").pick_count(5) == 5
    assert parse_mode("percent:50").pick_count(5) == 3  # rounded up: never zero when some match
    assert parse_mode("percent:1").pick_count(5) == 1
    assert parse_mode("count:3").kind is ModeKind.COUNT


@pytest.mark.parametrize("bad", ["some", "count:0", "percent:0", "percent:101", "count:x", ""])
def test_bad_modes_are_refused(bad):
    with pytest.raises(ValueError, match="mode"):
        parse_mode(bad)


def test_limits_as_count_or_share():
    assert parse_limit(1).allows(1, 10)
    assert not parse_limit(1).allows(2, 10)
    assert parse_limit("50%").allows(1, 2)
    assert not parse_limit("50%").allows(2, 2)
    with pytest.raises(ValueError, match="limit"):
        parse_limit("150%")
