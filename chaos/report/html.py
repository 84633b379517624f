"""The HTML run report: one self-contained file, readable offline and printable.

Everything is inline: the CSS, the charts (SVG drawn here, so they show without
JavaScript) and one small script that only adds hover read-outs. Nothing is loaded
from the network and no external font is used. The input is the run report document
(:func:`chaos.report.document.build_document`); any part of it may be missing (a run
that died half-way), and the page then says what is missing instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaos.report.html_canvas import Canvas, canvas
from chaos.report.html_charts import load_section, probes_section, slis_section
from chaos.report.html_fields import (
    NO_VALUE,
    as_text,
    e,
    mapping,
    number,
    rows,
    seconds,
    section,
    texts,
    timestamp,
)
from chaos.report.html_style import SCRIPT, STYLE
from chaos.report.html_tables import (
    comparison_section,
    events_section,
    faults_section,
    recovery_section,
    stops_section,
    verdict_section,
)
from chaos.report.html_timeline import timeline_svg

STATUSES = ("passed", "failed", "aborted", "error", "interrupted", "running")


def render_html(document: Mapping[str, Any]) -> str:
    """The report page of one run's document, as a complete HTML document."""
    document = mapping(document)
    room = canvas(document)
    run = section(document, "run")
    status = as_text(_gate(document).get("status"), "unknown")
    run_id = as_text(run.get("id"))
    title = " · ".join(
        part
        for part in (as_text(run.get("experiment")), status, f"run {run_id}" if run_id else "")
        if part.strip()
    )
    sections: tuple[Callable[[Mapping[str, Any], Canvas], str], ...] = (
        _header,
        _missing,
        _timeline,
        load_section,
        slis_section,
        probes_section,
        verdict_section,
        recovery_section,
        faults_section,
        stops_section,
        comparison_section,
        events_section,
        _footer,
    )
    body = "".join(render(document, room) for render in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<link rel="icon" href="data:,">'  # no favicon request
        f"<title>{e(title)}</title><style>{STYLE}</style></head>"
        f'<body><main class="report">{body}</main><script>{SCRIPT}</script></body></html>\n'
    )


def _gate(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CI outcome; the run's own when the document has no gate section."""
    return section(document, "gate") or section(document, "run")


def status_class(status: Any) -> str:
    found = as_text(status)
    return f"status-{found}" if found in STATUSES else "status-unknown"


# ---------------------------------------------------------------- header


def _header(document: Mapping[str, Any], room: Canvas) -> str:
    run, gate = section(document, "run"), _gate(document)
    status = as_text(gate.get("status"), "unknown")
    exit_code = number(gate.get("exit_code"))
    meta = [
        ("Run", f"<code>{e(run.get('id'), NO_VALUE)}</code>"),
        ("Started", e(timestamp(run.get("started_at")))),
        ("Duration", e(seconds(run.get("duration_s"), "unfinished"))),
        ("Experiment file", e(run.get("source"), NO_VALUE)),
        ("Lab", e(run.get("lab"), NO_VALUE)),
        ("Host", e(run.get("host"), NO_VALUE)),
    ]
    shown_meta = "".join(
        f"<div><dt>{name}</dt><dd>{value}</dd></div>"
        for name, value in meta
        if value not in (NO_VALUE, "")
    )
    description = as_text(run.get("description"))
    exit_text = f"exit {exit_code:g}" if exit_code is not None else "no exit code"
    return (
        f'<header class="report-header" id="summary"><div class="heading">'
        f'<p class="eyebrow">Chaos experiment report</p>'
        f"<h1>{e(run.get('experiment'), 'unnamed experiment')}</h1>"
        + (f'<p class="description">{e(description)}</p>' if description else "")
        + f'<dl class="meta">{shown_meta}</dl></div>'
        f'<div class="verdict-badge {status_class(status)}" id="verdict-badge">'
        f'<span class="status">{e(status.upper())}</span>'
        f'<span class="exit">{e(exit_text)}</span></div></header>'
        + _outcome(document)
        + _figures(document)
    )


def _outcome(document: Mapping[str, Any]) -> str:
    run, gate = section(document, "run"), _gate(document)
    parts = []
    reasons = texts(gate.get("reasons"))
    if reasons:
        items = "".join(f"<li>{e(reason)}</li>" for reason in reasons)
        parts.append(f'<ul class="reasons">{items}</ul>')
    if (gate.get("status"), gate.get("exit_code")) != (run.get("status"), run.get("exit_code")):
        run_status = as_text(run.get("status"), "unknown")
        parts.append(
            f'<p class="gate-note">The run itself {e(run_status)} '
            f"(exit {e(run.get('exit_code'), NO_VALUE)}); the CI gate's outcome above also counts "
            "regressions against an earlier run.</p>"
        )
        extra = [r for r in texts(run.get("reasons")) if r not in reasons]
        parts += [f'<p class="gate-note">Run: {e(reason)}</p>' for reason in extra]
    regressions = rows(section(document, "comparison").get("regressions"))
    if regressions:
        items = "".join(f"<li>{e(r.get('summary') or r.get('name'))}</li>" for r in regressions)
        parts.append(
            f'<div class="callout callout-fail" id="regressions-callout">'
            f"<strong>{len(regressions)} regression(s) against an earlier run</strong>"
            f"<ul>{items}</ul></div>"
        )
    unreverted = texts(run.get("unreverted"))
    if unreverted:
        items = "".join(f"<li>{e(fault)}</li>" for fault in unreverted)
        parts.append(
            '<div class="callout callout-fail" id="unreverted-callout">'
            "<strong>Faults that may still be active: check these targets by hand</strong>"
            f"<ul>{items}</ul></div>"
        )
    if not parts:
        return ""
    css = status_class(gate.get("status"))
    return f'<section class="outcome {css}">{"".join(parts)}</section>'


def _figures(document: Mapping[str, Any]) -> str:
    run = section(document, "run")
    verdict = rows(document.get("verdict"))
    faults = rows(document.get("faults"))
    load = rows(section(document, "series").get("load"))
    requests = [number(point.get("requests")) for point in load]
    failures = [number(point.get("failures")) for point in load]
    passed = sum(1 for row in verdict if row.get("passed") is True)
    figures = [
        ("Duration", seconds(run.get("duration_s"), "unfinished"), ""),
        ("Time to recover", seconds(run.get("time_to_recover_s"), "not measured"), ""),
        ("Faults", str(len(faults)), _fault_summary(faults)),
        (
            "SLIs and probes held",
            f"{passed} of {len(verdict)}" if verdict else "no verdict",
            "",
        ),
        (
            "Requests",
            f"{sum(r for r in requests if r is not None):,.0f}" if load else "none stored",
            f"{sum(f for f in failures if f is not None):,.0f} failed" if load else "",
        ),
    ]
    cells = "".join(
        f'<div class="figure"><span class="figure-name">{name}</span>'
        f'<span class="figure-value">{e(value)}</span>'
        + (f'<span class="figure-note">{e(note)}</span>' if note else "")
        + "</div>"
        for name, value, note in figures
    )
    return f'<section class="figures" aria-label="key figures">{cells}</section>'


def _fault_summary(faults: list[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for fault in faults:
        key = as_text(fault.get("outcome"), "unknown").replace("_", " ")
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{count} {key}" for key, count in counts.items())


# ---------------------------------------------------------------- what is missing


def _missing(document: Mapping[str, Any], room: Canvas) -> str:
    missing = texts(document.get("missing"))
    if not missing:
        return ""
    items = "".join(f"<li>{e(line)}</li>" for line in missing)
    return (
        '<section class="callout callout-warn missing" id="missing">'
        "<h2>Missing data</h2><p>This report is built from what the store holds; "
        f"some of it is not there:</p><ul>{items}</ul></section>"
    )


# ---------------------------------------------------------------- timeline and charts


def _timeline(document: Mapping[str, Any], room: Canvas) -> str:
    return (
        '<section id="timeline"><h2>Timeline</h2>'
        f'<div class="chart-box">{timeline_svg(document, room)}</div></section>'
    )


def _footer(document: Mapping[str, Any], room: Canvas) -> str:
    generator = as_text(document.get("generator"), "chaos-platform")
    generated = timestamp(document.get("generated_at"), "")
    version = as_text(document.get("schema_version"))
    return (
        f'<footer class="report-footer">Made by {e(generator)}'
        + (f" on {e(generated)}" if generated else "")
        + (f" · report schema v{e(version)}" if version else "")
        + " · all times are seconds since the run started (t+…)"
        " · this file loads nothing from the network</footer>"
    )
