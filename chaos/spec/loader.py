"""Load experiment YAML (and game-day plans) into frozen models, reporting every problem
with file:line:col.

The YAML is composed into nodes (bounded: :mod:`chaos.spec.yamltree`) and converted
with every value's position (:mod:`chaos.spec.document`); those positions are attached
to validation errors. All problems are collected and raised together in one
:class:`SpecError`: every failure of a load is one, never another exception.
Files are read through :func:`chaos.spec.files.read_user_file` (regular files under a
size cap); ``${NAME}`` reads only the ``variables`` given (:mod:`chaos.spec.variables`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from chaos.errors import SpecError, SpecIssue
from chaos.spec.base import NAME_PATTERN, URL_PATTERN, FaultParams
from chaos.spec.document import Document, format_loc
from chaos.spec.files import read_user_file
from chaos.spec.gameday import GAMEDAY_STEP_TAGS, GameDay, GameDayPlan, PlannedStep
from chaos.spec.models import STEP_TAGS, Experiment
from chaos.spec.references import Loc, check_references


class FaultInfo(Protocol):
    """What the loader needs to know about a fault (the catalogue lives in chaos.faults)."""

    @property
    def params(self) -> type[FaultParams]: ...

    @property
    def reversible(self) -> bool: ...


FaultCatalog = Mapping[str, FaultInfo]


# ---------------------------------------------------------------- validation


def _validate_params(doc: Document, catalog: FaultCatalog) -> None:
    """Replace each fault step's raw params by the fault's own validated model."""
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    method = spec.get("method") if isinstance(spec, dict) else None
    if not isinstance(method, list):
        return
    for index, step in enumerate(method):
        if not isinstance(step, dict):
            continue
        loc: Loc = ("spec", "method", index)
        if "fault" in step:
            _validate_step_params(doc, catalog, step, loc)
        parallel = step.get("parallel")
        if isinstance(parallel, list):
            for inner, fault_step in enumerate(parallel):
                if isinstance(fault_step, dict):
                    _validate_step_params(doc, catalog, fault_step, (*loc, "parallel", inner))


def _validate_step_params(
    doc: Document, catalog: FaultCatalog, step: dict[str, Any], loc: Loc
) -> None:
    name = step.get("fault")
    raw = step.get("params", {})
    info = catalog.get(name) if isinstance(name, str) else None
    if info is None:
        known = ", ".join(sorted(catalog))
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        doc.issue((*loc, "fault"), f"unknown fault {shown} (known: {known})")
        step["params"] = FaultParams()
        return
    if raw is None:
        raw = {}
    try:
        step["params"] = info.params.model_validate(raw)
    except ValidationError as exc:
        _report(doc, exc, (*loc, "params"))
        step["params"] = FaultParams()
    if info.reversible and step.get("duration") is None:
        doc.issue(loc, f"fault {name!r} is reversible and needs a duration")


_UNION_TAGS = STEP_TAGS | GAMEDAY_STEP_TAGS  # pydantic's names for union members, not fields
_PATTERN_MESSAGES = {
    NAME_PATTERN: "use lower-case letters, digits and '-' (like a DNS label)",
    URL_PATTERN: "must be an http:// or https:// URL",
}


def _report(doc: Document, exc: ValidationError, prefix: Loc = ()) -> None:
    errors = exc.errors(include_url=False, include_input=False)
    failed = [tuple(e["loc"]) for e in errors]
    for error in errors:
        raw_loc = tuple(error["loc"])
        if error["type"] == "too_short" and any(
            other[: len(raw_loc)] == raw_loc and other != raw_loc for other in failed
        ):
            continue  # "too few items" only because an item failed: the item's error says it
        loc = (*prefix, *(part for part in raw_loc if part not in _UNION_TAGS))
        doc.issue(loc, _message(error), at_key=error["type"] in ("extra_forbidden", "missing"))


def _message(error: Any) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return _PATTERN_MESSAGES.get(pattern, message)
    return message.removeprefix("Value error, ")


# ---------------------------------------------------------------- public API


def load_text(
    text: str,
    *,
    file: str,
    catalog: FaultCatalog,
    variables: Mapping[str, str] | None = None,
) -> Experiment:
    """Parse and validate one experiment; raise SpecError listing every problem.

    ``variables`` are what ``${NAME}`` may read (:func:`chaos.spec.variables.opted_in`
    for the CLI); None, as for experiments submitted to the controller service, is none.
    """
    doc = Document(file=file, variables=variables or {})
    doc.parse(text)
    if not doc.issues and not isinstance(doc.data, dict):
        doc.issue((), "an experiment must be a mapping with apiVersion, kind, metadata, spec")
    if doc.issues:
        raise SpecError(_sorted(doc.issues))
    _validate_params(doc, catalog)
    check_references(doc)
    try:
        experiment = Experiment.model_validate(doc.data)
    except ValidationError as exc:
        _report(doc, exc)
        raise SpecError(_sorted(doc.issues)) from None
    except (RecursionError, OverflowError) as exc:  # a last guard: located, never a traceback
        doc.issue((), f"cannot validate this file ({type(exc).__name__})")
    if doc.issues:
        raise SpecError(_sorted(doc.issues))
    experiment.remember_interpolation(
        secrets=doc.interpolated.values,
        templates={format_loc(loc): written for loc, written in doc.interpolated.templates.items()},
    )
    return experiment


def load_file(
    path: Path | str, *, catalog: FaultCatalog, variables: Mapping[str, str] | None = None
) -> Experiment:
    return load_text(read_text(path), file=str(path), catalog=catalog, variables=variables)


def read_text(path: Path | str, *, what: str = "file") -> str:
    """A user's file as text: a regular file under the size cap, UTF-8 (located errors)."""
    return decode(read_user_file(path, what=what), file=str(path))


def decode(raw: bytes, *, file: str) -> str:
    """UTF-8 text, or a SpecError at the line and column of the first invalid byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        issue = SpecIssue(file, line, column, "", "the file is not UTF-8 text (invalid byte)")
        raise SpecError([issue]) from None


def load_gameday_file(
    path: Path | str, *, catalog: FaultCatalog, variables: Mapping[str, str] | None = None
) -> GameDayPlan:
    """A game-day plan and every experiment it names (relative to the plan's directory)."""
    return load_gameday_text(
        read_text(path),
        file=str(path),
        base=Path(path).parent,
        catalog=catalog,
        variables=variables,
    )


def load_gameday_text(
    text: str,
    *,
    file: str,
    base: Path,
    catalog: FaultCatalog,
    variables: Mapping[str, str] | None = None,
) -> GameDayPlan:
    """Validate a plan and each experiment it names; raise one SpecError listing every
    problem: the plan's at plan:line:col, each experiment's at experiment:line:col."""
    doc = Document(file=file, variables=variables or {})
    doc.parse(text)
    if not doc.issues and not isinstance(doc.data, dict):
        doc.issue((), "a game day must be a mapping with apiVersion, kind, metadata, spec")
    if doc.issues:
        raise SpecError(_sorted(doc.issues))
    experiments, inner = _load_experiments(doc, base, catalog)
    try:
        gameday = GameDay.model_validate(doc.data)
    except ValidationError as exc:
        _report(doc, exc)
        gameday = None
    if gameday is None or doc.issues or inner:
        raise SpecError([*_sorted(doc.issues), *inner])
    steps = tuple(
        PlannedStep(index=index, step=step, **experiments.get(index, {}))
        for index, step in enumerate(gameday.spec.steps)
    )
    return GameDayPlan(gameday=gameday, source=file, steps=steps)


def _load_experiments(
    doc: Document, base: Path, catalog: FaultCatalog
) -> tuple[dict[int, dict[str, Any]], list[SpecIssue]]:
    """Each step's experiment by step index, and the problems inside those files (each
    file's reported once, and pointed at from the step that names it)."""
    spec = doc.data.get("spec")
    steps = spec.get("steps") if isinstance(spec, dict) else None
    found: dict[int, dict[str, Any]] = {}
    inner: list[SpecIssue] = []
    loaded: dict[Path, Experiment | SpecError] = {}
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        name = step.get("experiment") if isinstance(step, dict) else None
        if not isinstance(name, str) or not name:
            continue
        loc: Loc = ("spec", "steps", index, "experiment")
        path = Path(os.path.normpath(base / name))  # ../x.yaml shown as x.yaml's real place
        # a name built from a variable is shown as written (${...}): the value may be secret
        written = doc.interpolated.templates.get(loc, name)
        shown = os.path.normpath(base / written)
        try:
            exists = path.exists()
            key = path.resolve()
        except (OSError, ValueError, RuntimeError):  # a name too long, a NUL, a symlink loop
            exists, key = False, path
        if not exists:
            doc.issue(loc, f"no experiment file {_short(shown)}")
            continue
        first = key not in loaded
        if first:
            try:
                loaded[key] = load_file(path, catalog=catalog, variables=doc.variables)
            except SpecError as exc:
                loaded[key] = exc
        result = loaded[key]
        if isinstance(result, SpecError):
            count = len(result.issues)
            doc.issue(
                loc, f"experiment {_short(written)} is invalid ({count} problem(s) in that file)"
            )
            inner.extend(_shown_as(result.issues, str(path), shown) if first else ())
            continue
        found[index] = {"experiment": result, "path": path}
    return found, inner


def _shown_as(issues: list[SpecIssue], file: str, shown: str) -> list[SpecIssue]:
    return [dataclasses.replace(i, file=shown) if i.file == file else i for i in issues]


def _short(text: str) -> str:
    return repr(text) if len(text) <= 200 else repr(text[:197] + "...")


def _sorted(issues: Iterable[SpecIssue]) -> list[SpecIssue]:
    unique = {(i.line, i.column, i.path, i.message): i for i in issues}
    return [unique[key] for key in sorted(unique)]
