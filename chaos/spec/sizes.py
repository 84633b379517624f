"""Byte sizes as people write them: ``512MiB``, ``1GiB``, ``100MB``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from chaos.spec.limits import MAX_NUMBER_DIGITS, MAX_SIZE_BYTES

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$")
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$"


def parse_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("expected a size with a unit such as 512MiB or 1GiB")
    match = _SIZE.match(value) if len(value) <= MAX_NUMBER_DIGITS else None
    if match is None:
        raise ValueError("invalid size: use a number and B, KB, MB, GB, KiB, MiB, GiB")
    size = float(match.group(1)) * _UNITS[match.group(2)]
    if size > MAX_SIZE_BYTES:
        raise ValueError("a size is at most 1048576GiB (1 PiB)")
    return int(size)


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(lambda value: f"{value}B", return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN, "examples": ["512MiB", "1GiB"]}),
]
"""Bytes as an int; written with a unit (``512MiB``)."""
