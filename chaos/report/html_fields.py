"""Lenient reads of a run report document for the HTML report.

The HTML report renders any document :func:`chaos.report.document.build_document`
can produce, including a half-finished run's where a section is missing, null or
empty, and the JSON report of another version read back from a CI artifact. So
the renderer never indexes the document directly: every read goes through these
functions, which turn a missing key, a null or a value of the wrong type into an
empty default instead of an exception.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

NO_VALUE = "\N{EN DASH}"  # shown where the document has no value


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def section(document: Any, *path: str) -> Mapping[str, Any]:
    """The mapping at ``path`` inside ``document`` (empty when any step is missing)."""
    found = mapping(document)
    for key in path:
        found = mapping(found.get(key))
    return found


def rows(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list (a missing list, or items of other types, are skipped)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def texts(value: Any) -> list[str]:
    """A list of strings (anything else in it shown as text, nulls dropped)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence):
        return []
    return [as_text(item) for item in value if item is not None]


def as_text(value: Any, default: str = "") -> str:
    """``value`` as text; ``default`` for null."""
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def number(value: Any) -> float | None:
    """A finite number, or None (for null, booleans, text, NaN and infinities)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def flag(value: Any) -> bool | None:
    """True or False only when the document says so; None when it does not."""
    return value if isinstance(value, bool) else None


def e(value: Any, default: str = "") -> str:
    """Text for HTML and SVG, escaped (run documents carry user input: names, messages)."""
    return escape(as_text(value, default), quote=True)


# ---------------------------------------------------------------- human formats


def seconds(value: Any, default: str = NO_VALUE) -> str:
    """A duration: ``0.8s``, ``42.0s``, ``12m05s``, ``1h02m``."""
    found = number(value)
    if found is None:
        return default
    if abs(found) < 59.95:
        return f"{found:.1f}s"
    minutes, rest = divmod(round(found), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def offset(value: Any, default: str = NO_VALUE) -> str:
    """A time since the run started: ``t+4.8s``."""
    found = number(value)
    return default if found is None else f"t+{seconds(found)}"


def timestamp(value: Any, default: str = NO_VALUE) -> str:
    """An ISO 8601 time as ``2026-11-21 13:15:41 UTC`` (anything unparsable as it is)."""
    raw = as_text(value)
    if not raw:
        return default
    try:
        parsed = dt.datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            return parsed.strftime("%Y-%m-%d %H:%M:%S")
        return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError):  # not a time, or one UTC cannot hold (year 1, -1h)
        return raw
