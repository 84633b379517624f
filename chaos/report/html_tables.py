"""The HTML report's tables: the verdict, recovery, what was reverted when, stop
conditions, the comparison with an earlier run and the event log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chaos.report.html_canvas import Canvas, outcome
from chaos.report.html_fields import (
    NO_VALUE,
    as_text,
    e,
    flag,
    mapping,
    number,
    offset,
    rows,
    seconds,
    section,
    texts,
    timestamp,
)


def _table(
    headers: Sequence[str], body: Iterable[str], *, css: str = "", numeric: Sequence[int] = ()
) -> str:
    heads = "".join(
        f'<th scope="col"{" class=num" if index in numeric else ""}>{e(name)}</th>'
        for index, name in enumerate(headers)
    )
    return (
        f'<div class="table-wrap"><table class="{css}"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _cells(values: Sequence[str], *, numeric: Sequence[int] = ()) -> str:
    """Table cells of already-escaped HTML."""
    return "".join(
        f"<td{' class=num' if index in numeric else ''}>{value}</td>"
        for index, value in enumerate(values)
    )


def _badge(words: str, css: str) -> str:
    return f'<span class="badge {css}">{e(words)}</span>'


# ---------------------------------------------------------------- verdict


def verdict_section(document: Mapping[str, Any], room: Canvas) -> str:
    verdict = rows(document.get("verdict"))
    if not verdict:
        status = as_text(section(document, "run").get("status"), "unknown")
        return (
            '<section id="verdict"><h2>Verdict</h2><p class="placeholder">'
            f"No per-SLI and per-probe verdict was stored (run status: {e(status)}).</p></section>"
        )
    numeric = (2, 3, 4, 7)
    body = []
    for row in verdict:
        display = mapping(row.get("display"))
        passed = row.get("passed") is True
        failed_in = ", ".join(texts(row.get("failed_in")))
        result = (
            _badge("pass", "badge-pass")
            if passed
            else _badge("FAIL" + (f" in {failed_in}" if failed_in else ""), "badge-fail")
        )
        cells = [
            f'<span class="kind">{e(row.get("kind"), "sli")}</span>',
            f"<strong>{e(row.get('name'))}</strong>",
            *(e(display.get(key), NO_VALUE) for key in ("baseline", "fault_worst", "recovery")),
            e(row.get("threshold"), "-"),
            e(row.get("tolerance"), "-"),
            e(seconds(row.get("time_to_recover_s"))),
            result,
        ]
        body.append(
            f'<tr class="{"pass" if passed else "fail"}">{_cells(cells, numeric=numeric)}</tr>'
        )
    headers = (
        "",
        "SLI / probe",
        "baseline",
        "worst during fault",
        "recovery",
        "threshold",
        "tolerance",
        "TTR",
        "result",
    )
    table = _table(headers, body, css="verdict-table", numeric=numeric)
    return (
        '<section id="verdict"><h2>Verdict</h2>'
        f'{table}<p class="note">worst during fault: the worst value while faults were '
        "active · TTR: time to recover after the revert · a probe's figures are its passes "
        "per phase</p></section>"
    )


def recovery_section(document: Mapping[str, Any], room: Canvas) -> str:
    recovery = mapping(document.get("recovery"))
    ttr = number(section(document, "run").get("time_to_recover_s"))
    if ttr is None:
        ttr = number(recovery.get("time_to_recover_s"))
    recovered = flag(recovery.get("recovered"))
    if recovered is True or (not recovery and ttr is not None):
        headline = f"Recovered {seconds(ttr)} after the revert" if ttr is not None else "Recovered"
        css = "pass"
    elif recovered is False:
        reason = as_text(recovery.get("reason"))
        headline = "Did not recover" + (f": {reason}" if reason else "")
        css = "fail"
    else:
        headline = "Recovery was not measured (the run did not reach the recovery phase)"
        css = "neutral"
    signals = mapping(recovery.get("signals"))
    table = ""
    if signals:
        body = [
            f"<tr>{_cells([e(name), e(seconds(value, 'not recovered'))], numeric=(1,))}</tr>"
            for name, value in signals.items()
        ]
        table = _table(("SLI / probe", "time to recover"), body, numeric=(1,))
    return (
        '<section id="recovery"><h2>Time to recover</h2>'
        f'<p class="headline headline-{css}">{e(headline)}</p>{table}</section>'
    )


# ---------------------------------------------------------------- faults and stops


def faults_section(document: Mapping[str, Any], room: Canvas) -> str:
    faults = rows(document.get("faults"))
    if not faults:
        return (
            '<section id="faults"><h2>What was reverted when</h2>'
            '<p class="placeholder">No fault was applied in this run.</p></section>'
        )
    body = []
    for fault in faults:
        words, css = outcome(fault.get("outcome"))
        applied, ended = number(fault.get("applied_s")), number(fault.get("ended_s"))
        held = seconds(ended - applied) if applied is not None and ended is not None else NO_VALUE
        where = " · ".join(
            as_text(fault.get(key)) for key in ("target", "instance", "node") if fault.get(key)
        )
        what = f"<strong>{e(fault.get('label'), 'fault')}</strong>"
        if fault.get("detail"):
            what += f'<br><span class="muted">{e(fault.get("detail"))}</span>'
        cells = [
            what,
            e(where, NO_VALUE),
            e(offset(applied)),
            e(offset(ended, "never")),
            e(held),
            _badge(words, css),
            e(fault.get("message")),
        ]
        body.append(f'<tr class="{css}">{_cells(cells, numeric=(2, 3, 4))}</tr>')
    headers = ("fault", "where", "applied", "ended", "active for", "outcome", "message")
    return (
        '<section id="faults"><h2>What was reverted when</h2>'
        f"{_table(headers, body, css='faults-table', numeric=(2, 3, 4))}</section>"
    )


def stops_section(document: Mapping[str, Any], room: Canvas) -> str:
    stops = rows(document.get("stop_conditions"))
    if not stops:
        return ""
    body = []
    for stop in stops:
        tripped = stop.get("tripped") is True or number(stop.get("tripped_s")) is not None
        result = (
            _badge(f"tripped at {offset(stop.get('tripped_s'))}", "badge-abort")
            if tripped
            else _badge("did not trip", "badge-neutral")
        )
        cells = [
            f"<strong>{e(stop.get('name'))}</strong>",
            e(stop.get("watches"), NO_VALUE),
            e(stop.get("threshold"), NO_VALUE),
            result,
            e(stop.get("message")),
        ]
        body.append(f"<tr>{_cells(cells)}</tr>")
    headers = ("stop condition", "watches", "threshold", "result", "message")
    return (
        f'<section id="stop-conditions"><h2>Stop conditions</h2>{_table(headers, body)}</section>'
    )


# ---------------------------------------------------------------- comparison and events


def comparison_section(document: Mapping[str, Any], room: Canvas) -> str:
    comparison = document.get("comparison")
    if not isinstance(comparison, Mapping):
        return ""
    against = mapping(comparison.get("against"))
    margin = number(comparison.get("margin_pct"))
    if against:
        intro = (
            f"Against run <code>{e(against.get('run_id'), NO_VALUE)}</code> of "
            f"{e(against.get('experiment'), NO_VALUE)} "
            f"({e(against.get('status'), NO_VALUE)}, started "
            f"{e(timestamp(against.get('started_at')))})"
        )
    else:
        intro = "No earlier run to compare with"
    if margin is not None:
        intro += f"; a change is a regression when it is worse by more than {margin:g}%"
    parts = [f'<section id="comparison"><h2>Comparison with an earlier run</h2><p>{intro}.</p>']
    regressions = rows(comparison.get("regressions"))
    compared = rows(comparison.get("compared"))
    if regressions:
        parts.append(
            '<div class="callout callout-fail"><strong>Regressions</strong>'
            + _comparison_table(regressions)
            + "</div>"
        )
    elif compared:
        parts.append('<p class="headline headline-pass">No regressions.</p>')
    if compared:
        parts.append(
            f"<details><summary>Every measure compared ({len(compared)})</summary>"
            f"{_comparison_table(compared)}</details>"
        )
    notes = texts(comparison.get("notes"))
    if notes:
        parts.append(f'<ul class="notes">{"".join(f"<li>{e(n)}</li>" for n in notes)}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _comparison_table(entries: Sequence[Mapping[str, Any]]) -> str:
    body = []
    for entry in entries:
        regression = entry.get("regression") is True
        verdict = (
            _badge("regression", "badge-fail")
            if regression
            else _badge("worse, within margin", "badge-neutral")
            if entry.get("worse") is True
            else _badge("same or better", "badge-pass")
        )
        cells = [
            f"<strong>{e(entry.get('name'))}</strong>",
            e(as_text(entry.get("measure")).replace("_", " ")),
            e(entry.get("summary")),
            verdict,
        ]
        body.append(f'<tr class="{"fail" if regression else ""}">{_cells(cells)}</tr>')
    return _table(("SLI / probe", "measure", "change", "result"), body)


def events_section(document: Mapping[str, Any], room: Canvas) -> str:
    events = rows(document.get("timeline"))
    if not events:
        return ""
    body = []
    for event in events:
        cells = [
            e(offset(event.get("at_s"))),
            e(event.get("phase"), NO_VALUE),
            e(event.get("kind")),
            e(event.get("message")),
        ]
        body.append(f"<tr>{_cells(cells, numeric=(0,))}</tr>")
    table = _table(("at", "phase", "event", "message"), body, css="events-table", numeric=(0,))
    return (
        f'<section id="events"><details><summary><h2>Event log ({len(events)} events)</h2>'
        f"</summary>{table}</details></section>"
    )
