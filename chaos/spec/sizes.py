"""Byte sizes as people write them: ``512MiB``, ``1GiB``, ``100MB``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$")
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$"


def parse_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a size with a unit such as 512MiB or 1GiB, got {value!r}")
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"invalid size {value!r}: use a number and B, KB, MB, GB, KiB, MiB, GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(lambda value: f"{value}B", return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN, "examples": ["512MiB", "1GiB"]}),
]
"""Bytes as an int; written with a unit (``512MiB``)."""
