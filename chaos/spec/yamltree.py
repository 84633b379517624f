"""Compose YAML into nodes under hard bounds, so hostile input is refused, located, at once.

PyYAML would happily build a "billion laughs" (a few hundred bytes whose aliases expand
to a billion nodes), recurse until Python's stack ends on ``[[[[...`` or on a recursive
alias (``&a [*a]``), and construct any ``!!python/...`` tag a loader knows. Here:

- the event stream (or the composer, without libyaml) is checked for the number of nodes
  and aliases, the nesting depth and explicit tags outside YAML's core schema, each
  refused with the line and column it is at, before any node is built;
- before anything is converted, each node's size *with aliases expanded* is computed
  once per node (aliased nodes are shared, so this is linear in the file), refusing a
  recursive alias and a document that would expand past :data:`MAX_YAML_NODES`.

Everything refused raises :class:`YamlRefused` carrying the position and the message.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

from chaos.spec.limits import (
    MAX_FILE_BYTES,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    format_bytes,
)

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    {None, "!", *(_CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))}
)
MERGE_TAG = _CORE + "merge"
VALUE_TAG = _CORE + "value"


class YamlRefused(Exception):
    """The text cannot be read as bounded YAML: where (1-based) and why."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _at(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer checks the bounds as it builds (used without libyaml)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.bounds = _Bounds()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        self.bounds.node(event)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self.bounds.enter(event)
        try:
            return super().compose_node(parent, index)
        finally:
            self.bounds.depth -= 1


class _Bounds:
    """Counts nodes, aliases and nesting; refuses (a located ComposerError) past a bound."""

    def __init__(self) -> None:
        self.nodes = self.aliases = self.depth = 0

    def node(self, event: Any) -> None:
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            _refuse(event, f"more than {MAX_YAML_NODES} nodes in one document")
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                _refuse(event, f"more than {MAX_YAML_ALIASES} aliases (*name) in one file")
            return
        tag = getattr(event, "tag", None)
        if tag not in ALLOWED_TAGS:
            shown = tag if len(tag) <= 60 else tag[:57] + "..."
            _refuse(
                event,
                f"tag {shown!r} is not allowed: only plain YAML values "
                "(strings, numbers, booleans, null, mappings, lists)",
            )

    def enter(self, event: Any) -> None:
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            _refuse(event, f"nested more than {MAX_YAML_DEPTH} levels deep")


def _refuse(event: Any, message: str) -> None:
    raise ComposerError(None, None, message, event.start_mark)


_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))


def compose(text: str) -> yaml.Node | None:
    """The single document of ``text`` as nodes (None if empty), or :class:`YamlRefused`.

    With libyaml (the usual case) the event stream is checked first, at C speed, and
    only a text within every bound is then composed, by libyaml too; without libyaml,
    the pure-Python composer checks as it builds.
    """
    if len(text) > MAX_FILE_BYTES:
        limit = format_bytes(MAX_FILE_BYTES)
        raise YamlRefused(1, 1, f"the document is larger than the {limit} limit")
    try:
        node = _compose_c(text) if _LIBYAML else _compose_python(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlRefused(*_at(mark), f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        # libyaml counts bytes of UTF-8, the Python reader characters
        offset = exc.position
        if _LIBYAML:
            offset = len(text.encode("utf-8")[:offset].decode("utf-8", "ignore"))
        raise YamlRefused(*position_of(text, offset), _reader_message(exc)) from None
    except UnicodeEncodeError as exc:  # a lone surrogate in a str from JSON (an API body)
        where = position_of(text, exc.start)
        raise YamlRefused(*where, "invalid character (a lone surrogate)") from None
    except yaml.YAMLError as exc:  # no position given: the start of the file
        raise YamlRefused(1, 1, f"invalid YAML: {type(exc).__name__}") from None
    except RecursionError:  # cannot happen under MAX_YAML_DEPTH, but never a traceback
        raise YamlRefused(1, 1, "invalid YAML: nested too deeply") from None
    if node is not None:
        check_expansion(node)
    return node


def _compose_python(text: str) -> yaml.Node | None:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _compose_c(text: str) -> yaml.Node | None:
    bounds = _Bounds()
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, CollectionEndEvent):
                bounds.depth -= 1
            elif isinstance(event, NodeEvent):
                bounds.node(event)
                if isinstance(event, CollectionStartEvent):
                    bounds.enter(event)
        return yaml.compose(text, Loader=yaml.CSafeLoader)
    except (yaml.scanner.ScannerError, yaml.parser.ParserError):
        # a syntax error: PyYAML's reader says it in the words our docs show (and stops
        # at the same place, within the same bounds); libyaml's message if it disagrees
        try:
            _compose_python(text)
        except yaml.reader.ReaderError as exc:  # this one counts characters, not bytes
            where = position_of(text, exc.position)
            raise YamlRefused(*where, _reader_message(exc)) from None
        raise


def _reader_message(exc: yaml.reader.ReaderError) -> str:
    character = exc.character
    code = character if isinstance(character, int) else ord(character[:1] or "\0")
    if code == 0:
        return "a NUL byte is not allowed in YAML"
    return f"control character U+{code:04X} is not allowed in YAML"


def position_of(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[: max(0, offset)]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def check_expansion(root: yaml.Node) -> None:
    """Refuse a recursive alias, or a tree that aliases would expand past the node cap.

    Sizes are memoised per node object (an alias is the very node it names), so the
    work is linear in the composed graph however far the aliases would expand.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # an explicit stack: (node, children visited?) -- no recursion on hostile input
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_YAML_NODES:
                raise YamlRefused(
                    *_at(node.start_mark),
                    f"aliases expand this document past {MAX_YAML_NODES} nodes",
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise YamlRefused(*_at(node.start_mark), "a recursive alias (it contains itself)")
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise YamlRefused(*_at(child.start_mark), "a recursive alias (it contains itself)")
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
