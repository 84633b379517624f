"""Report files of a run: checked before the run starts, written after its verdict.

``chaos run --junit/--json/--markdown/--html PATH`` and ``chaos report RUN_ID`` use
this module. :meth:`ReportOutputs.check` runs before anything is injected: a path
that cannot be written is a usage error (exit 2) while nothing has happened yet,
never a surprise after the faults. Files are written atomically (a temporary file
in the same directory, then a rename), so a CI job never uploads half a report.

The earlier run a comparison is made against is resolved here too, also before
the run: a run id (or unique prefix) from the store, ``latest-pass`` (the newest
passed run of the same experiment), or the path of an earlier JSON report.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import import_module
from pathlib import Path
from typing import Any

from chaos.controller.events import RunStatus
from chaos.errors import SpecError, UsageError
from chaos.report.compare import compare, nothing_to_compare
from chaos.report.document import KIND, SCHEMA_VERSION, apply_gate, build_document
from chaos.spec.files import read_user_file
from chaos.store.repository import RunDetail, RunStore

LATEST_PASS = "latest-pass"
MAX_REPORT_BYTES = 64 << 20  # a --compare-to JSON report (thousands of samples fit in 1 MiB)


class ReportFormat(StrEnum):
    JUNIT = "junit"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"

    @property
    def option(self) -> str:
        return f"--{self.value}"


_RENDERERS = {  # imported only when that format is asked for
    ReportFormat.JUNIT: ("chaos.report.junit", "render_junit"),
    ReportFormat.MARKDOWN: ("chaos.report.markdown", "render_markdown"),
    ReportFormat.HTML: ("chaos.report.html", "render_html"),
}


def render(fmt: ReportFormat, document: Mapping[str, Any]) -> str:
    """The report in one format."""
    if fmt is ReportFormat.JSON:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    module, function = _RENDERERS[fmt]
    renderer: Callable[[Mapping[str, Any]], str] = getattr(import_module(module), function)
    return renderer(document)


@dataclass(frozen=True)
class ReportOutputs:
    """Which report goes to which file."""

    paths: Mapping[ReportFormat, Path] = field(default_factory=dict)

    @classmethod
    def of(cls, **paths: Path | None) -> ReportOutputs:
        """From the command's options, e.g. ``of(junit=Path("out.xml"), html=None)``."""
        return cls({ReportFormat(name): path for name, path in paths.items() if path is not None})

    def __bool__(self) -> bool:
        return bool(self.paths)

    def check(self) -> None:
        """Every path can be written: its directory exists or can be made, is writable, and
        the path is not a directory nor given twice. UsageError (exit 2) naming the option;
        nothing is created when any path fails."""
        seen: dict[Path, ReportFormat] = {}
        for fmt, path in self.paths.items():
            where = path.resolve()
            if where in seen:
                raise UsageError(
                    f"{fmt.option} {path}: the same file as {seen[where].option}; "
                    "give each report its own path"
                )
            seen[where] = fmt
            _check_writable(fmt.option, path)
        for path in self.paths.values():
            path.resolve().parent.mkdir(parents=True, exist_ok=True)

    def write(self, document: Mapping[str, Any]) -> tuple[list[Path], list[str]]:
        """Write every report; (paths written, problems). A renderer or a disk that fails
        for one format does not stop the others."""
        written, problems = [], []
        for fmt, path in self.paths.items():
            try:
                _write_atomically(path, render(fmt, document))
            except OSError as exc:
                problems.append(f"{fmt.option} {path}: cannot write: {exc.strerror or exc}")
                continue
            except Exception as exc:  # a renderer bug must not hide the verdict or the others
                problems.append(f"{fmt.option} {path}: cannot render the report: {exc!r}")
                continue
            written.append(path)
        return written, problems


def _check_writable(option: str, path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file path")
    existing = path.resolve().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is not a directory")
    try:  # os.access says yes to root even on a read-only mount: try it for real
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".chaos-report-check-")
        os.close(handle)
        os.unlink(probe)
        if path.exists():
            with path.open("ab"):
                pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def _write_atomically(path: Path, text: str) -> None:
    path.resolve().parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Reference:
    """What a run is compared with: an earlier report, or why there is none."""

    document: Mapping[str, Any] | None = None
    note: str | None = None


def resolve_reference(
    ref: str, *, store: RunStore, experiment: str, before: float | None = None
) -> Reference:
    """``ref`` is a run id or prefix, ``latest-pass`` or an earlier JSON report's path.

    An unknown id or an unreadable file is a UsageError (exit 2): the user named
    something that is not there. No earlier passed run for ``latest-pass`` is not an
    error (the first CI run has none): the report says so.
    """
    if ref == LATEST_PASS:
        record = store.latest_run(experiment, status=RunStatus.PASSED, before=before)
        if record is None:
            return Reference(
                note=f"no earlier passed run of {experiment} in the store: nothing to compare with"
            )
        ref = record.id
    elif ref.endswith(".json") or os.sep in ref:
        return Reference(document=_report_file(Path(ref)))
    detail = store.get_run(ref)
    if detail is None:
        raise UsageError(
            f"--compare-to {ref}: no such run in the store (or the prefix is ambiguous); "
            f"give a run id, {LATEST_PASS} or an earlier run's JSON report"
        )
    return Reference(document=build_document(detail))


def _report_file(path: Path) -> dict[str, Any]:
    try:  # a regular file under a cap: --compare-to /dev/zero must not hang the run
        raw = read_user_file(path, max_bytes=MAX_REPORT_BYTES, what="report")
        document = json.loads(raw.decode("utf-8"))
    except SpecError as exc:
        reason = exc.issues[0].message.removeprefix("cannot read report: ")
        raise UsageError(f"--compare-to {path}: cannot read: {reason}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"--compare-to {path}: not JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise UsageError(f"--compare-to {path}: not a chaos run report (chaos run --json)")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(
            f"--compare-to {path}: report schema version {document.get('schema_version')!r}; "
            f"this chaos reads version {SCHEMA_VERSION}"
        )
    return document


def run_report(
    detail: RunDetail,
    *,
    reference: Reference | None,
    margin_pct: float,
    fail_on_regression: bool,
) -> dict[str, Any]:
    """The report of a stored run, compared with ``reference`` when one was asked for."""
    document = build_document(detail)
    if reference is not None:
        if reference.document is not None:
            document["comparison"] = compare(document, reference.document, margin_pct=margin_pct)
        else:
            document["comparison"] = nothing_to_compare(
                reference.note or "nothing to compare with", margin_pct=margin_pct
            )
    return apply_gate(document, fail_on_regression=fail_on_regression)
