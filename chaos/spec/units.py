"""Scalar types of the experiment format: durations, thresholds, target modes, limits.

Each is parsed from the string a person writes (``200ms``, ``"< 300"``, ``count:2``,
``50%``) into a small frozen value, and serialised back to the same form, so the
JSON Schema and error messages speak the user's language.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from chaos.spec.limits import MAX_DURATION_S, MAX_LIMIT_COUNT, MAX_NUMBER_DIGITS

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h))+$"


def parse_duration(value: Any) -> float:
    """``"1m30s"`` → 90.0 seconds. A bare number is refused: ``30`` is ambiguous."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"expected a duration with a unit such as 200ms, 30s or 2m, got {_short(value)}"
        )
    text = value.strip()
    if not text or len(text) > 4 * MAX_NUMBER_DIGITS or _DURATION_PART.sub("", text):
        raise ValueError(f"invalid duration {_short(value)}: use a number and a unit (ms, s, m, h)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


def bounded_duration(value: Any) -> float:
    """A duration field's value: parsed, and no longer than a day (nothing runs longer)."""
    seconds = parse_duration(value)
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {_short(value)} is longer than the 24h limit")
    return seconds


def _short(value: Any) -> str:
    """A user's value in an error, cut short: a 1 MiB string is not a message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_duration(seconds: float) -> str:
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(bounded_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["200ms", "30s"]}),
]
"""Seconds as a float; written as ``200ms``, ``30s``, ``2m``, ``1h``, ``1m30s``; at most 24h."""


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_THRESHOLD = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(ms|s|%)?\s*$")
THRESHOLD_PATTERN = r"^\s*(<=|>=|==|!=|<|>)\s*-?\d+(\.\d+)?\s*(ms|s|%)?\s*$"


@dataclass(frozen=True)
class Threshold:
    """A comparison such as ``< 300``: ``holds(250)`` is True, ``holds(301)`` False.

    A unit is optional: ``ms`` and ``s`` make the value milliseconds (latency),
    ``%`` makes it a ratio (``< 1%`` is ``< 0.01``).
    """

    op: str
    value: float

    def holds(self, observed: float) -> bool:
        if math.isnan(observed):
            return False
        return _OPERATORS[self.op](observed, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_threshold(value: Any) -> Threshold:
    if isinstance(value, Threshold):
        return value
    if not isinstance(value, str):
        raise ValueError(f'expected a threshold such as "< 300" or ">= 0.99", got {_short(value)}')
    match = _THRESHOLD.match(value) if len(value) <= 4 * MAX_NUMBER_DIGITS else None
    if match is None:
        raise ValueError(
            f"invalid threshold {_short(value)}: "
            "use an operator (<, <=, >, >=, ==, !=) and a number"
        )
    op, number, unit = match.groups()
    scale = {"s": 1000.0, "%": 0.01}.get(unit or "", 1.0)
    return Threshold(op=op, value=float(number) * scale)


ThresholdField = Annotated[
    Threshold,
    BeforeValidator(parse_threshold),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": THRESHOLD_PATTERN, "examples": ["< 300", ">= 0.99"]}
    ),
]


class ModeKind(StrEnum):
    ALL = "all"
    ONE = "one"
    COUNT = "count"
    PERCENT = "percent"


@dataclass(frozen=True)
class Mode:
    """How many of the matching targets a step acts on: all, one, count:N, percent:P."""

    kind: ModeKind
    amount: int = 0

    def pick_count(self, available: int) -> int:
        if self.kind is ModeKind.ALL:
            return available
        if self.kind is ModeKind.ONE:
            return min(1, available)
        if self.kind is ModeKind.COUNT:
            return min(self.amount, available)
        # percent: at least one target when any match, never more than exist
        return min(available, max(1, math.ceil(available * self.amount / 100))) if available else 0

    def __str__(self) -> str:
        if self.kind in (ModeKind.ALL, ModeKind.ONE):
            return self.kind.value
        return f"{self.kind.value}:{self.amount}"


MODE_PATTERN = r"^(all|one|count:[1-9]\d*|percent:([1-9]\d?|100))$"


def parse_mode(value: Any) -> Mode:
    if isinstance(value, Mode):
        return value
    text = str(value).strip() if isinstance(value, str) else ""
    if text in ("all", "one"):
        return Mode(ModeKind(text))
    kind, _, amount = text.partition(":")
    if kind in ("count", "percent") and amount.isdigit():
        number = int(amount)
        if number >= 1 and (kind == "count" or number <= 100):
            return Mode(ModeKind(kind), number)
    raise ValueError(f"invalid mode {_short(value)}: use all, one, count:N or percent:P (1-100)")


ModeField = Annotated[
    Mode,
    BeforeValidator(parse_mode),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": MODE_PATTERN, "examples": ["all", "count:2"]}),
]


@dataclass(frozen=True)
class Limit:
    """A blast-radius cap: an absolute count (``3``) or a share of candidates (``50%``)."""

    count: int | None = None
    percent: float | None = None

    def allows(self, selected: int, candidates: int) -> bool:
        if self.count is not None:
            return selected <= self.count
        assert self.percent is not None
        return candidates == 0 or selected / candidates * 100 <= self.percent + 1e-9

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


LIMIT_PATTERN = r"^(\d+|\d+(\.\d+)?%)$"


def parse_limit(value: Any) -> Limit:
    if isinstance(value, Limit):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_LIMIT_COUNT:
        return Limit(count=value)
    if isinstance(value, str) and len(value) <= MAX_NUMBER_DIGITS:
        text = value.strip()
        if text.isdigit() and int(text) <= MAX_LIMIT_COUNT:
            return Limit(count=int(text))
        if text.endswith("%"):
            try:
                percent = float(text[:-1])
            except ValueError:
                percent = -1.0
            if 0 <= percent <= 100:
                return Limit(percent=percent)
    raise ValueError(f"invalid limit {_short(value)}: use a count (3) or a percentage (50%)")


LimitField = Annotated[
    Limit,
    BeforeValidator(parse_limit),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": LIMIT_PATTERN}]}
    ),
]
