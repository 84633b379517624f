"""The small part of GitHub Actions' expression language that our action.yml may use.

Supported, and nothing else (anything else raises ``ExpressionError``, so an action that
leans on a feature this stand-in does not model fails its tests instead of being
evaluated wrongly):

- context references: ``inputs.NAME``, ``steps.ID.outputs.NAME``, ``github.action_path``,
  ``runner.temp``;
- string literals in single quotes (``''`` is a quote inside one);
- the status function ``always()``;
- ``==`` and ``!=`` (strings compare case-insensitively, as on GitHub);
- ``&&`` (returns the first falsy operand, else the last one, as on GitHub).

``${{ ... }}`` templates are expanded inside strings; an ``if:`` may omit the braces and
gets GitHub's implicit ``success() &&`` unless it calls ``always()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|==|!=)|(?P<call>always\(\))|(?P<string>'(?:[^']|'')*')"
    r"|(?P<ref>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))"
)
_CONTEXT_SHAPES = {
    "inputs": 2,  # inputs.NAME
    "steps": 4,  # steps.ID.outputs.NAME
    "github": 2,
    "runner": 2,
}
_GITHUB_KEYS = {"github.action_path", "runner.temp"}

Value = str | bool


class ExpressionError(ValueError):
    """An expression outside the supported grammar, or a reference that cannot resolve."""


@dataclass(frozen=True)
class Ref:
    path: tuple[str, ...]


@dataclass(frozen=True)
class Literal:
    value: str


@dataclass(frozen=True)
class Always:
    pass


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str
    right: Operand


Operand = Ref | Literal | Always
Term = Operand | Compare


@dataclass(frozen=True)
class Expression:
    """``term && term && ...``: what ``parse`` returns."""

    terms: tuple[Term, ...]
    source: str

    def refs(self) -> Iterator[Ref]:
        for term in self.terms:
            parts = (term.left, term.right) if isinstance(term, Compare) else (term,)
            yield from (part for part in parts if isinstance(part, Ref))

    @property
    def calls_always(self) -> bool:
        return any(isinstance(term, Always) for term in self.terms)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"unsupported expression syntax at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _operand(kind: str, text: str) -> Operand:
    if kind == "string":
        return Literal(text[1:-1].replace("''", "'"))
    if kind == "call":
        return Always()
    if kind == "ref":
        path = tuple(text.split("."))
        expected = _CONTEXT_SHAPES.get(path[0])
        if expected != len(path) or (path[0] == "steps" and path[2] != "outputs"):
            raise ExpressionError(f"unsupported context reference {text!r}")
        if path[0] in ("github", "runner") and text not in _GITHUB_KEYS:
            raise ExpressionError(f"unsupported context reference {text!r}")
        return Ref(path)
    raise ExpressionError(f"expected a value, found {text!r}")


def parse(text: str) -> Expression:
    tokens = _tokens(text)
    if not tokens:
        raise ExpressionError("empty expression")
    terms: list[Term] = []
    for chunk in _split(tokens, text):
        if len(chunk) == 1:
            terms.append(_operand(*chunk[0]))
        elif len(chunk) == 3 and chunk[1][0] == "op":
            left, right = _operand(*chunk[0]), _operand(*chunk[2])
            if isinstance(left, Always) or isinstance(right, Always):
                raise ExpressionError(f"always() cannot be compared: {text!r}")
            terms.append(Compare(left, chunk[1][1], right))
        else:
            raise ExpressionError(f"unsupported expression {text.strip()!r}")
    return Expression(tuple(terms), text.strip())


def _split(tokens: list[tuple[str, str]], text: str) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for token in tokens:
        if token == ("op", "&&"):
            if not chunk:
                raise ExpressionError(f"'&&' without a left operand in {text!r}")
            yield chunk
            chunk = []
        else:
            chunk.append(token)
    if not chunk:
        raise ExpressionError(f"'&&' without a right operand in {text!r}")
    yield chunk


def truthy(value: Value) -> bool:
    return bool(value)


def evaluate(expression: Expression, resolve: Callable[[Ref], str]) -> Value:
    result: Value = True
    for term in expression.terms:
        result = _term(term, resolve)
        if not truthy(result):
            return result
    return result


def _term(term: Term, resolve: Callable[[Ref], str]) -> Value:
    if isinstance(term, Compare):
        left, right = _text(term.left, resolve), _text(term.right, resolve)
        equal = left.casefold() == right.casefold()
        return equal if term.op == "==" else not equal
    if isinstance(term, Always):
        return True
    return _text(term, resolve)


def _text(operand: Operand, resolve: Callable[[Ref], str]) -> str:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Ref):
        return resolve(operand)
    raise ExpressionError("always() has no text value")


def as_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def expand(text: str, resolve: Callable[[Ref], str]) -> str:
    """Every ``${{ expr }}`` in ``text`` replaced by its value."""
    return TEMPLATE.sub(lambda match: as_text(evaluate(parse(match.group(1)), resolve)), text)


def templates(text: str) -> list[Expression]:
    return [parse(match.group(1)) for match in TEMPLATE.finditer(text)]


def condition(text: str) -> Expression:
    """An ``if:`` value: a bare expression, or exactly one ``${{ }}`` around it."""
    stripped = text.strip()
    whole = TEMPLATE.fullmatch(stripped)
    if whole is None and "${{" in stripped:
        raise ExpressionError(f"an if: mixes text and ${{{{ }}}}: {text!r}")
    return parse(whole.group(1) if whole else stripped)


def should_run(expression: Expression, *, job_failed: bool, resolve: Callable[[Ref], str]) -> bool:
    """GitHub's rule: without a status function an ``if`` means ``success() && (...)``."""
    if job_failed and not expression.calls_always:
        return False
    return truthy(evaluate(expression, resolve))


def lookup(ref: Ref, contexts: Mapping[str, Mapping[str, str]]) -> str:
    """Resolve against {"inputs": {...}, "github": {...}, "runner": {...}, "steps.ID": {...}}."""
    head, *rest = ref.path
    if head == "steps":
        outputs = contexts.get(f"steps.{rest[0]}")
        if outputs is None:
            raise ExpressionError(f"unknown step id {rest[0]!r} in {'.'.join(ref.path)}")
        return outputs.get(rest[2], "")  # an unset output is '' on GitHub
    values = contexts[head]
    if rest[0] not in values:
        raise ExpressionError(f"undeclared {'.'.join(ref.path)}")
    return values[rest[0]]
