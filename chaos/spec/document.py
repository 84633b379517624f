"""A parsed YAML file with the position of every key and value, and the problems found.

The YAML is composed into nodes (bounded: :mod:`chaos.spec.yamltree`) and converted
here into plain data, keeping each value's position so validation errors can say
``file:line:col``. Anything that cannot become plain data -- a key that is a mapping, a
merge key, a value no constructor accepts, a variable the user did not opt into -- is
recorded as a located problem, never raised as another exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from chaos.errors import SpecIssue
from chaos.spec.references import Loc
from chaos.spec.variables import Interpolated, redact
from chaos.spec.yamltree import MERGE_TAG, VALUE_TAG, YamlRefused, compose

MAX_MESSAGE = 400  # characters of one problem's message


@dataclass
class Document:
    file: str
    data: Any = None
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # key/item starts
    issues: list[SpecIssue] = field(default_factory=list)
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # where each value starts
    variables: Mapping[str, str] = field(default_factory=dict)
    interpolated: Interpolated = field(default_factory=Interpolated)
    constructor: yaml.SafeLoader = field(default_factory=lambda: yaml.SafeLoader(""))

    def issue(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        """Record a problem; it points at the value, or at the key for key problems."""
        line, column = self.position(loc, at_key=at_key)
        self.add(line, column, format_loc(loc), message, secret_here=loc in self._templates)

    def add(self, line: int, column: int, path: str, message: str, *, secret_here: bool) -> None:
        """Record a problem, scrubbed of every interpolated value (any length where the
        value itself came from a variable)."""
        clean = redact(message, self.interpolated.values, all_lengths=secret_here)
        if len(clean) > MAX_MESSAGE:  # a 1 MiB value quoted back is not a message
            clean = clean[: MAX_MESSAGE - 3] + "..."
        self.issues.append(SpecIssue(self.file, line, column, path, clean))

    @property
    def _templates(self) -> dict[Loc, str]:
        return self.interpolated.templates

    def position(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        if not at_key and loc in self.values:
            return self.values[loc]
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.positions:
                return self.positions[loc[:end]]
        return (1, 1)

    def parse(self, text: str) -> None:
        """Compose and convert ``text``; problems go to :attr:`issues`."""
        try:
            node = compose(text)
        except YamlRefused as exc:
            self.add(exc.line, exc.column, "", exc.message, secret_here=False)
            return
        if node is None:
            self.add(1, 1, "", "the file is empty", secret_here=False)
            return
        self.data = self._convert(node, ())

    def _convert(self, node: yaml.Node, loc: Loc) -> Any:
        start = _start(node)
        self.positions.setdefault(loc, start)
        self.values[loc] = start
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(item, (*loc, index)) for index, item in enumerate(node.value)]
        value = self._scalar(node, loc)
        if isinstance(value, str) and "${" in value:
            value, problems = self.interpolated.substitute(value, loc, self.variables)
            for problem in problems:
                self.issue(loc, problem)
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            where = _start(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "mapping" if isinstance(key_node, yaml.MappingNode) else "list"
                self.add(
                    *where,
                    format_loc(loc),
                    f"a key must be a plain value, not a {kind}",
                    secret_here=False,
                )
                continue
            if key_node.tag == MERGE_TAG:
                self.add(
                    *where,
                    format_loc(loc),
                    "merge keys (<<) are not supported: write the fields out",
                    secret_here=False,
                )
                continue
            key = self._scalar(key_node, loc)
            child = (*loc, key)
            self.positions[child] = where
            if key in result:
                self.issue(child, "duplicate key", at_key=True)
                continue
            result[key] = self._convert(value_node, child)
        return result

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        if node.tag in (MERGE_TAG, VALUE_TAG):  # "<<" or "=" as a value: just text
            return node.value
        try:
            return self.constructor.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            message = f"invalid value: {exc.problem or exc.context}"
        except (ValueError, OverflowError, TypeError) as exc:
            # an impossible date (2024-13-45), an integer of 5000 digits, ...
            digits = "digits" in str(exc)
            message = (
                "invalid value: a number with too many digits"
                if digits
                else (f"invalid value: {str(exc)[:120]}")
            )
        line, column = _start(node)
        self.add(line, column, format_loc(loc), message, secret_here=False)
        return None


def _start(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def format_loc(loc: Loc) -> str:
    """('spec', 'method', 0, 'params') → 'spec.method[0].params'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
