"""``${NAME}`` in experiment files: only variables the user opted into, never echoed.

A file may say ``${CHAOS_VAR_API_URL}`` or ``${CHAOS_VAR_API_URL:-http://127.0.0.1:8080}``.
The loader is given the variables it may use (:func:`opted_in`: the ``CHAOS_VAR_*``
environment and ``--var NAME=value``; the controller service gives none at all); any
other ``${NAME}`` is an error that names the variable but never reads it.

A value that came from a variable may be a token in a URL, so it is a secret: the
loader records which strings it interpolated (:class:`Interpolated`), error messages
are scrubbed of them (:func:`redact`), and the experiment's stored form puts the
``${NAME}`` text back (``Experiment.redacted()``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.errors import UsageError

PREFIX = "CHAOS_VAR_"
PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIN_SCRUB_LENGTH = 3  # shorter values are only scrubbed where they were interpolated


def opted_in(
    assignments: Iterable[str] = (), *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables a CLI command may interpolate: ``CHAOS_VAR_*`` from the environment,
    then each ``NAME=value`` given with ``--var`` (which wins)."""
    source = os.environ if environ is None else environ
    found = {name: value for name, value in source.items() if name.startswith(PREFIX)}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not _NAME.match(name):
            # never the value: "--var TOKEN" without "=" may be the token itself
            raise UsageError("--var takes NAME=value (a name of letters, digits and _)")
        found[name] = value
    return found


@dataclass
class Interpolated:
    """What one load substituted: each variable's value, and each field's original text."""

    values: dict[str, str] = field(default_factory=dict)  # NAME -> value (the secrets)
    templates: dict[tuple[str | int, ...], str] = field(default_factory=dict)  # loc -> text

    def substitute(
        self, text: str, loc: tuple[str | int, ...], variables: Mapping[str, str]
    ) -> tuple[str, list[str]]:
        """``text`` with its ``${...}`` replaced, and the problems (naming, never quoting)."""
        problems: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in variables:
                value = variables[name]
                self.values[name] = value
                return value
            if not name.startswith(PREFIX) and name not in variables:
                problems.append(
                    f"variable {name} is not available: experiments read only variables "
                    f"named {PREFIX}* or given with --var {name}=VALUE"
                )
            elif default is not None:
                return default
            else:
                problems.append(f"variable {name} is not set and has no default (${{{name}:-...}})")
            return match.group(0)

        result = PATTERN.sub(replace, text)
        if result != text:
            self.templates[loc] = text
        return result, problems


def redact(text: str, secrets: Mapping[str, str], *, all_lengths: bool = False) -> str:
    """``text`` with every secret value replaced by its ``${NAME}``, longest first.

    ``all_lengths`` is for a message about the very field a value was put in: there a
    value of any length is scrubbed, and so is a value cut short ("'abc...") by the
    message, down to its first three characters.
    """
    for name, value in sorted(secrets.items(), key=lambda item: -len(item[1])):
        if not value or (len(value) < MIN_SCRUB_LENGTH and not all_lengths):
            continue
        text = text.replace(value, f"${{{name}}}")
        if all_lengths:
            text = _redact_prefix(text, value, f"${{{name}}}")
    return text


def _redact_prefix(text: str, value: str, replacement: str) -> str:
    for length in range(min(len(value), 400) - 1, MIN_SCRUB_LENGTH - 1, -1):
        if value[:length] in text:
            return text.replace(value[:length], replacement)
    return text


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def restore_templates(
    data: Any, *, templates: Mapping[str, str], secrets: Mapping[str, str]
) -> Any:
    """Dumped experiment data with each interpolated field (``spec.load.host``) back in
    its ``${NAME}`` form, and any other string still holding a secret redacted."""
    for path, template in templates.items():
        parts = [int(index) if index else name for name, index in _PATH_PART.findall(path)]
        if parts:
            _put(data, parts, template)
    return _scrub(data, secrets)


def _step(data: Any, part: str | int) -> Any:
    if isinstance(data, dict) and part in data:
        return data[part]
    if isinstance(data, list) and isinstance(part, int) and part < len(data):
        return data[part]
    return None


def _put(data: Any, parts: list[str | int], value: str) -> None:
    for part in parts[:-1]:
        data = _step(data, part)
    last = parts[-1]
    if _step(data, last) is not None and not isinstance(_step(data, last), dict | list):
        data[last] = value


def _scrub(data: Any, secrets: Mapping[str, str]) -> Any:
    if not secrets:
        return data
    if isinstance(data, dict):
        return {key: _scrub(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [_scrub(value, secrets) for value in data]
    if isinstance(data, str):
        return redact(data, secrets)
    return data
