"""A run as a short GitHub-flavoured Markdown summary: a pull-request comment or a
``$GITHUB_STEP_SUMMARY``.

The heading gives the CI gate's outcome (and the run's own when a regression made a
passing run fail the gate); then the reasons, one table row per SLI and probe, one line
per fault, the regression check, tripped stop conditions, missing data and, folded
away, the timeline. Input is the report document (:mod:`chaos.report.document`); a
partial one (an interrupted run: no verdict, no series) renders what is there.

Every string that comes from the experiment or the run (names, messages, reasons) is
escaped: it cannot break a table, start a list or a heading, inject HTML, render
LaTeX, or mention (and so notify) a GitHub user or team.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.report.document import PHASE_FIGURES, PHASE_WORDS

HEADINGS = {
    "passed": "✅ PASSED",
    "failed": "❌ FAILED",
    "aborted": "⚠️ ABORTED",
    "error": "💥 ERROR",
    "interrupted": "⛔ INTERRUPTED",
    "running": "⏳ RUNNING",
}
FAULT_ENDS = {
    "reverted": "reverted",
    "irreversible": "irreversible (nothing to revert), done",
    "lease_lost": "lease lost (not held for its duration: the run cannot pass)",
    "revert_failed": "⚠️ **revert failed**",
    "active_at_end": "⚠️ **still active when the run ended**",
    "apply_failed": "❌ **failed to apply**",
}
TIMELINE_ROWS = 50  # a pull-request comment holds 65536 characters; keep well inside it
LONGEST_TEXT = 300
# Markdown and HTML syntax inside a line, plus $ (GitHub renders $...$ as LaTeX)
_ACTIVE = re.compile(r"([\\`*_\[\]<>#!|~&$])")
_LIST_MARKER = re.compile(r"^(\d{0,9})([-+.)])(?=\s|$)")  # would start a (nested) list
_MENTION = re.compile(r"(?<![\w@])@(?=[\w-])")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def render_markdown(document: Mapping[str, Any]) -> str:
    """The run report as GitHub-flavoured Markdown (ends with a newline)."""
    sections = [
        _heading(document),
        _reasons(document),
        _table(document),
        _faults(document),
        _comparison(document),
        _stop_conditions(document),
        _missing(document),
        _timeline(document),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


# ---------------------------------------------------------------- sections


def _heading(document: Mapping[str, Any]) -> list[str]:
    run = document["run"]
    gate = document.get("gate") or {}
    status = gate.get("status") or run["status"]
    title = f"### {_word(status)} · {escape(run['experiment'])}"
    if status != run["status"]:
        on_regression = any(r.startswith("regression") for r in gate.get("reasons") or [])
        why = "; failed on regression" if on_regression else ""
        title += f" (the run itself {_word(run['status'])}{why})"
    facts = [f"run {escape(run['id'])}"]
    if run.get("duration_s") is not None:
        facts.append(f"took {_seconds(run['duration_s'])}")
    facts.append(_recovery_fact(document))
    if run.get("source"):
        facts.append(escape(run["source"]))
    lines = [title, "", " · ".join(facts)]
    if run.get("description"):
        lines += ["", f"_{escape(run['description'])}_"]
    return lines


def _reasons(document: Mapping[str, Any]) -> list[str]:
    return [f"- {escape(reason)}" for reason in document["run"].get("reasons") or []]


def _table(document: Mapping[str, Any]) -> list[str]:
    rows = document.get("verdict") or []
    if not rows:
        return []
    lines = [
        "| SLI / probe | Baseline | Worst during fault | Recovery | Threshold | Result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        failed = row.get("failed_in") or []
        display = row.get("display") or {}
        values = [
            _strong(escape(display.get(PHASE_FIGURES[phase]) or "no data"), phase in failed)
            for phase in PHASE_FIGURES
        ]
        threshold = escape(row.get("threshold") or "-")
        if row.get("tolerance") not in (None, "", "-"):
            threshold += f" ({escape(row['tolerance'])})"
        where = ", ".join(PHASE_WORDS.get(phase, escape(phase)) for phase in failed)
        result = f"❌ failed {where}" if failed or not row.get("passed") else "✅ passed"
        kind = "SLI" if row["kind"] == "sli" else escape(row["kind"])
        cells = [f"{kind} {escape(row['name'])}", *values, threshold, result.rstrip()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _faults(document: Mapping[str, Any]) -> list[str]:
    faults = document.get("faults") or []
    unreverted = document["run"].get("unreverted") or []
    lines = ["**Faults**", *(_fault_line(fault, unreverted) for fault in faults)] if faults else []
    if unreverted:
        lines += ["", "**⚠️ Not confirmed reverted:**"]
        lines += [f"- {escape(fault)}" for fault in unreverted]
    return lines


def _comparison(document: Mapping[str, Any]) -> list[str]:
    comparison = document.get("comparison")
    if comparison is None:
        return []
    against = (comparison.get("against") or {}).get("run_id")
    margin = f"margin {comparison.get('margin_pct', 0):g}%"
    regressions = comparison.get("regressions") or []
    notes = [f"- _{escape(note)}_" for note in comparison.get("notes") or []]
    if against is None:
        return ["**Regression check:** nothing to compare with.", *notes]
    if not regressions:
        return [f"No regression against run {escape(against)} ({margin}).", *notes]
    count = f"{len(regressions)} regression" + ("s" if len(regressions) > 1 else "")
    lines = [f"**📉 {count} against run {escape(against)} ({margin}):**"]
    lines += [f"- **{escape(found['summary'])}**" for found in regressions]
    return lines + notes


def _stop_conditions(document: Mapping[str, Any]) -> list[str]:
    lines = []
    for condition in document.get("stop_conditions") or []:
        if condition.get("tripped"):
            at = condition.get("tripped_s")
            when = f" at t+{_seconds(at)}" if at is not None else ""
            message = f": {escape(condition['message'])}" if condition.get("message") else ""
            lines.append(
                f"- 🛑 **Stop condition {escape(condition['name'])} tripped**{when}{message}"
            )
    return lines


def _missing(document: Mapping[str, Any]) -> list[str]:
    missing = document.get("missing") or []
    return ["**Missing data**", *(f"- {escape(note)}" for note in missing)] if missing else []


def _timeline(document: Mapping[str, Any]) -> list[str]:
    events = document.get("timeline") or []
    if not events:
        return []
    lines = [
        f"<details><summary>Timeline ({len(events)} events)</summary>",
        "",
        "| t | Phase | Event |",
        "| ---: | --- | --- |",
    ]
    for event in events[:TIMELINE_ROWS]:
        what = escape(event.get("kind") or "")
        if event.get("message"):
            what += f": {escape(event['message'])}"
        lines.append(
            f"| +{_seconds(event['at_s'])} | {escape(event.get('phase') or '')} | {what} |"
        )
    if len(events) > TIMELINE_ROWS:
        lines.append(f"| | | … {len(events) - TIMELINE_ROWS} more in the JSON report |")
    return [*lines, "", "</details>"]


# ---------------------------------------------------------------- pieces


def escape(text: Any) -> str:
    """``text`` as literal Markdown on one line: nothing in it is syntax or HTML."""
    flat = " ".join(_BREAKS.sub(" ", str(text)).split())
    if len(flat) > LONGEST_TEXT:
        flat = flat[: LONGEST_TEXT - 1] + "…"
    flat = _ACTIVE.sub(r"\\\1", flat)
    flat = _LIST_MARKER.sub(r"\1\\\2", flat)
    return _MENTION.sub("@\u200b", flat)  # a zero-width space: shown as @, no notification


def _word(status: str) -> str:
    return HEADINGS.get(status, f"❔ {escape(status).upper()}")


def _recovery_fact(document: Mapping[str, Any]) -> str:
    recovery = document.get("recovery")
    if recovery is None:
        return "recovery not measured"
    if recovery.get("recovered"):
        return f"recovered in {_seconds(recovery.get('time_to_recover_s') or 0.0)}"
    return "**did not recover**"


def _fault_line(fault: Mapping[str, Any], unreverted: Sequence[str]) -> str:
    what = escape(f"{fault.get('label') or fault.get('fault')} [{fault.get('instance')}]")
    outcome = fault.get("outcome") or ""
    ended = fault.get("ended_s")
    end = FAULT_ENDS.get(outcome, escape(outcome))
    if ended is not None and outcome != "apply_failed":
        end += f" at t+{_seconds(ended)}"
    line = f"- {what}: applied at t+{_seconds(fault.get('applied_s') or 0.0)}, {end}"
    if outcome == "apply_failed":
        line = f"- {what}: {end} at t+{_seconds(fault.get('applied_s') or 0.0)}"
    if outcome in ("revert_failed", "apply_failed") and fault.get("message") not in unreverted:
        line += f": {escape(fault.get('message') or 'no message')}"
    return line


def _strong(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def _seconds(value: float) -> str:
    return f"{float(value):.1f} s"
