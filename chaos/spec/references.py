"""Cross-section checks of a parsed experiment: names used in one section must exist.

They work on the raw data (before the models are built), so a step naming a missing
target is reported together with every other problem in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from chaos.errors import SpecError
from chaos.spec.base import FaultParams
from chaos.spec.files import read_user_file
from chaos.spec.limits import MAX_LOCUSTFILE_BYTES

Loc = tuple[str | int, ...]


class ParsedDocument(Protocol):
    """What the checks need from the loader's document: its file, data and issue list."""

    @property
    def file(self) -> str: ...

    @property
    def data(self) -> Any: ...

    def issue(self, loc: Loc, message: str, *, at_key: bool = False) -> None: ...


def check_references(doc: ParsedDocument) -> None:
    """Names used across sections must exist (targets, probes, SLIs). Works on the raw
    data, so these problems are reported together with every other one."""
    spec = _get(doc.data, "spec")
    _check_fault_targets(doc, spec)
    steady = _get(spec, "steadyState")
    probes = _unique_names(doc, steady, "probes", taken=[])
    slis = _unique_names(doc, steady, "slis", taken=probes)
    _check_load_slis(doc, spec)
    tolerated = _list(_get(_get(spec, "phases"), "tolerateDuringFault"))
    for index, name in enumerate(tolerated):
        if name not in probes and name not in slis:
            doc.issue(
                ("spec", "phases", "tolerateDuringFault", index), f"no probe or SLI named {name!r}"
            )
    for index, condition in enumerate(_list(_get(spec, "stopConditions"))):
        for key, names in (("probe", probes), ("sli", slis)):
            name = _get(condition, key)
            if isinstance(name, str) and name not in names:
                doc.issue(("spec", "stopConditions", index, key), f"no {key} named {name!r}")
    _check_locustfile(doc, _get(spec, "load"))


def _check_fault_targets(doc: ParsedDocument, spec: Any) -> None:
    targets = set(_get(spec, "targets") or {})
    for loc, step in _raw_fault_steps(spec):
        target = step.get("target")
        if isinstance(target, str) and target not in targets:
            doc.issue((*loc, "target"), f"no target named {target!r} in spec.targets")
        params = step.get("params")
        refs = params.target_refs() if isinstance(params, FaultParams) else {}
        for param, names in refs.items():
            for name in names:
                if name not in targets:
                    doc.issue((*loc, "params", param), f"no target named {name!r} in spec.targets")


def _unique_names(doc: ParsedDocument, steady: Any, section: str, *, taken: list[Any]) -> list[Any]:
    """Names of probes or SLIs; each must be unique among both (they share the verdict)."""
    names = [_get(item, "name") for item in _list(_get(steady, section))]
    kind = section[:-1]
    for index, name in enumerate(names):
        if name is None:
            continue
        if names.index(name) != index:
            doc.issue(("spec", "steadyState", section, index, "name"), f"duplicate {kind} {name!r}")
        elif name in taken:
            doc.issue(
                ("spec", "steadyState", section, index, "name"),
                f"{name!r} is already the name of a probe",
            )
    return names


def _check_load_slis(doc: ParsedDocument, spec: Any) -> None:
    """A load SLI needs load: nothing else produces it."""
    if _get(spec, "load") is not None:
        return
    for index, sli in enumerate(_list(_get(_get(spec, "steadyState"), "slis"))):
        metric = _get(sli, "metric")
        if metric is not None:
            doc.issue(
                ("spec", "steadyState", "slis", index, "metric"),
                f"metric {metric!r} is computed from load, but spec.load is not set",
            )


def _check_locustfile(doc: ParsedDocument, load: Any) -> None:
    """The locustfile must exist and compile; importing it is Locust's job, at run time."""
    name = _get(load, "locustfile")
    if not isinstance(name, str):
        return
    loc: Loc = ("spec", "load", "locustfile")
    path = locustfile_path(doc.file, name)
    try:
        source = read_user_file(path, max_bytes=MAX_LOCUSTFILE_BYTES, what="locustfile")
    except SpecError as exc:
        reason = exc.issues[0].message.removeprefix("cannot read locustfile: ")
        doc.issue(loc, f"cannot read locustfile {_short(str(path))}: {reason}")
        return
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except (RecursionError, MemoryError):
        doc.issue(loc, f"locustfile {path}: nested too deeply to compile")
    except (SyntaxError, ValueError) as exc:
        where = f"{path}:{exc.lineno}" if isinstance(exc, SyntaxError) else str(path)
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        doc.issue(loc, f"locustfile {where}: {message}")


def _short(text: str) -> str:
    return repr(text) if len(text) <= 200 else repr(text[:197] + "...")


def locustfile_path(experiment_file: str, locustfile: str) -> Path:
    """A locustfile path is relative to the experiment file that names it."""
    path = Path(locustfile)
    if path.is_absolute():
        return path
    base = (
        Path(experiment_file).parent
        if experiment_file and not experiment_file.startswith("<")
        else Path()
    )
    return base / path


def _raw_fault_steps(spec: Any) -> list[tuple[Loc, dict[str, Any]]]:
    found: list[tuple[Loc, dict[str, Any]]] = []
    for index, step in enumerate(_list(_get(spec, "method"))):
        loc: Loc = ("spec", "method", index)
        if isinstance(step, dict) and "fault" in step:
            found.append((loc, step))
        for inner, member in enumerate(_list(_get(step, "parallel"))):
            if isinstance(member, dict):
                found.append(((*loc, "parallel", inner), member))
    return found


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def _list(data: Any) -> list[Any]:
    return data if isinstance(data, list) else []
