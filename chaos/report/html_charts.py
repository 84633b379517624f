"""The HTML report's charts, built from a run report document: throughput, error ratio
and latency per second, and one small chart per SLI and per probe.

Fault windows are shaded in every chart (:mod:`chaos.report.html_canvas`); thresholds
of the SLIs measured from a load metric are drawn on that metric's chart, and each
SLI's on its own chart, its breaches marked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.report.html_canvas import Canvas
from chaos.report.html_fields import as_text, e, flag, mapping, number, rows, section, texts
from chaos.report.svg import Chart, Frame, Line, Marker, Rule, render_chart

WIDE = Frame(1132, 230)
SMALL = Frame(552, 180)

# (metric, legend label, CSS class) per load chart; p95 and max only when an SLI uses them
_LATENCIES = (
    ("latency_p50_ms", "p50", "c-p50"),
    ("latency_p90_ms", "p90", "c-p90"),
    ("latency_p95_ms", "p95", "c-p95"),
    ("latency_p99_ms", "p99", "c-p99"),
    ("latency_max_ms", "max", "c-max"),
)
_ALWAYS_DRAWN = {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"}
_SOURCE_NAMES = {
    "error_ratio": "error ratio of the load",
    "throughput_rps": "throughput of the load",
    "prometheus": "Prometheus query",
}
# what the hover read-out shows of each load point, in the order the page's script reads
_READOUT_KEYS = (
    "requests",
    "failures",
    "throughput_rps",
    "error_ratio",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
)


# ---------------------------------------------------------------- units


def unit_of(source: Any) -> tuple[str, float]:
    """How a metric is shown: its unit and the factor from stored values (ratios → %)."""
    source = as_text(source)
    if source == "error_ratio":
        return "%", 100.0
    if source.startswith("latency_"):
        return "ms", 1.0
    if source == "throughput_rps":
        return "/s", 1.0
    return "", 1.0


def threshold_text(threshold: Any, source: Any) -> str:
    """``{op: "<", value: 0.01}`` on an error ratio reads ``< 1%``."""
    found = mapping(threshold)
    value = number(found.get("value"))
    if value is None:
        return "-"
    unit, factor = unit_of(source)
    return f"{as_text(found.get('op'))} {value * factor:.6g}{unit}"


def _rules(sli: Mapping[str, Any], room: Canvas) -> list[Rule]:
    name, source = as_text(sli.get("name")), sli.get("source")
    factor = unit_of(source)[1]
    found = []
    for key, css, spans in (
        ("threshold", "threshold", None),
        ("during_fault", "threshold-fault", room.fault_spans),
    ):
        value = _scaled(mapping(sli.get(key)).get("value"), factor)
        if value is None or spans == ():
            continue
        label = f"{name} {threshold_text(sli.get(key), source)}"
        found.append(Rule(value, label + (" in fault" if spans else ""), css, spans))
    return found


# ---------------------------------------------------------------- load charts


def load_charts(document: Mapping[str, Any], room: Canvas) -> list[tuple[str, str, str]]:
    """(id, heading, HTML) of the throughput, error ratio and latency charts, or [] when
    the document holds no load samples."""
    series = section(document, "series")
    load = rows(series.get("load"))
    if not load:
        return []
    slis = rows(series.get("slis"))
    used = {as_text(sli.get("source")) for sli in slis}
    times = [number(point.get("t_s")) for point in load]

    def line(metric: str, label: str, css: str, factor: float = 1.0) -> Line:
        values = [_scaled(point.get(metric), factor) for point in load]
        return Line(label, _timed(times, values, room.load_shift), css)

    latencies = [
        line(metric, label, css)
        for metric, label, css in _LATENCIES
        if metric in _ALWAYS_DRAWN or metric in used
    ]
    throughput = [
        line("throughput_rps", "requests/s", "c-throughput"),
        line("failures", "failed requests/s", "c-failures"),
    ]
    errors = [line("error_ratio", "error ratio", "c-errors", 100.0)]
    charts = (  # (id, heading, unit, the metrics whose SLI thresholds it draws, lines)
        ("throughput", "Throughput", "/s", ("throughput_rps",), throughput),
        ("errors", "Error ratio", "%", ("error_ratio",), errors),
        ("latency", "Latency", "ms", tuple(m for m, _, _ in _LATENCIES), latencies),
    )
    drawn = []
    for key, heading, unit, metrics, lines in charts:
        rules = [rule for sli in slis if sli.get("source") in metrics for rule in _rules(sli, room)]
        chart = Chart(
            label=f"{heading} per second",
            t_end=room.t_end,
            unit=unit,
            lines=lines,
            bands=room.bands,
            rules=rules,
            marks=room.marks,
            attributes={"data-chart": key, "data-readout": "load-readout"},
        )
        html = _legend(lines, rules, room) + render_chart(chart, WIDE)
        drawn.append((key, f"{heading} ({'req/s' if unit == '/s' else unit})", html))
    return drawn


def load_readout_data(document: Mapping[str, Any], room: Canvas) -> str:
    """The load points as JSON for the hover read-out, safe inside a ``<script>`` element."""
    found = []
    for point in rows(section(document, "series").get("load")):
        t = number(point.get("t_s"))
        if t is None:
            continue
        found.append(
            [round(t + room.load_shift, 3), t, as_text(point.get("phase"))]
            + [number(point.get(key)) for key in _READOUT_KEYS]
        )
    found.sort(key=lambda row: row[0])
    # "<" escaped so no text in the data can close the script element
    return json.dumps(found, separators=(",", ":")).replace("<", "\\u003c")


# ---------------------------------------------------------------- SLI and probe charts


def sli_chart(sli: Mapping[str, Any], room: Canvas) -> str:
    """One SLI's values over time with its thresholds; breached points marked."""
    source = sli.get("source")
    unit, factor = unit_of(source)
    points = rows(sli.get("points"))
    times = [number(point.get("t_s")) for point in points]
    values = [_scaled(point.get("value"), factor) for point in points]
    line = Line(as_text(sli.get("name")), _timed(times, values, 0.0), "c-sli")
    breaches = [
        Marker(t, v, "breach")
        for t, v, point in zip(times, values, points, strict=True)
        if t is not None and flag(point.get("ok")) is False
    ]
    rules = _rules(sli, room)
    chart = Chart(
        label=f"SLI {as_text(sli.get('name'))}",
        t_end=room.t_end,
        unit=unit,
        lines=[line],
        bands=room.bands,
        rules=rules,
        markers=breaches,
        marks=room.marks,
        attributes={"data-sli": as_text(sli.get("name"))},
    )
    legend = _legend([line], rules, room, breaches="breached" if breaches else None)
    return legend + render_chart(chart, SMALL)


def probe_chart(probe: Mapping[str, Any], room: Canvas) -> str:
    """A probe's latency per sample; failed samples marked (at the bottom when they took
    no measurable time)."""
    samples = rows(probe.get("samples"))
    times = [number(sample.get("t_s")) for sample in samples]
    latencies = [number(sample.get("latency_ms")) for sample in samples]
    line = Line("latency", _timed(times, latencies, 0.0), "c-probe")
    failures = [
        Marker(t, latency, "probe-failed")
        for t, latency, sample in zip(times, latencies, samples, strict=True)
        if t is not None and flag(sample.get("ok")) is False
    ]
    chart = Chart(
        label=f"probe {as_text(probe.get('name'))}",
        t_end=room.t_end,
        unit="ms",
        lines=[line],
        bands=room.bands,
        markers=failures,
        marks=room.marks,
        attributes={"data-probe": as_text(probe.get("name"))},
    )
    legend = _legend([line], [], room, breaches="failed" if failures else None)
    return legend + render_chart(chart, SMALL)


# ---------------------------------------------------------------- sections


def load_section(document: Mapping[str, Any], room: Canvas) -> str:
    """The three load charts and the read-out, or a placeholder saying why there are none."""
    charts = load_charts(document, room)
    if not charts:
        said = [m for m in texts(document.get("missing")) if "load samples" in m]
        reason = said[0] if said else "no load samples were stored for this run"
        return (
            '<section id="load"><h2>Load</h2>'
            f'<div class="placeholder" data-placeholder="load">{e(reason[:1].upper())}'
            f"{e(reason[1:])}.</div></section>"
        )
    figures = "".join(
        f'<figure class="chart-box" id="chart-{key}"><figcaption>{e(heading)}</figcaption>'
        f"{html}</figure>"
        for key, heading, html in charts
    )
    return (
        '<section id="load"><h2>Load, per second</h2>'
        '<p class="readout" id="load-readout" aria-live="polite"></p>'
        f"{figures}"
        f'<script type="application/json" id="load-data">'
        f"{load_readout_data(document, room)}</script></section>"
    )


def slis_section(document: Mapping[str, Any], room: Canvas) -> str:
    """A card per SLI: what it measures, its thresholds, its chart."""
    slis = rows(section(document, "series").get("slis"))
    if not slis:
        return (
            '<section id="slis"><h2>SLIs</h2>'
            '<p class="placeholder">No SLI series in this report.</p></section>'
        )
    cards = []
    for sli in slis:
        name, source = as_text(sli.get("name")), sli.get("source")
        points = rows(sli.get("points"))
        breached = sum(1 for point in points if point.get("ok") is False)
        facts = [_source_name(source), f"threshold {threshold_text(sli.get('threshold'), source)}"]
        if sli.get("during_fault"):
            facts.append(f"in fault {threshold_text(sli.get('during_fault'), source)}")
        facts.append(f"{len(points)} points, {breached} breached")
        body = (
            sli_chart(sli, room)
            if points
            else f'<p class="placeholder">No points were stored for SLI {e(name)}.</p>'
        )
        cards.append(_card(f"SLI {name}", facts, body, failed=breached > 0))
    return f'<section id="slis"><h2>SLIs</h2><div class="cards">{"".join(cards)}</div></section>'


def probes_section(document: Mapping[str, Any], room: Canvas) -> str:
    """A card per probe: its pass ratio per phase and its latency chart."""
    probes = rows(section(document, "series").get("probes"))
    if not probes:
        return ""
    cards = []
    for probe in probes:
        name = as_text(probe.get("name"))
        samples = rows(probe.get("samples"))
        ratios = mapping(probe.get("pass_ratio"))
        facts = [
            f"{phase} {ratio:.0%} passed"
            for phase in ("baseline", "inject", "recovery")
            if (ratio := number(ratios.get(phase))) is not None
        ]
        failed = sum(1 for sample in samples if sample.get("ok") is False)
        facts.append(f"{len(samples)} samples, {failed} failed")
        body = (
            probe_chart(probe, room)
            if samples
            else f'<p class="placeholder">No samples were stored for probe {e(name)}.</p>'
        )
        cards.append(_card(f"Probe {name}", facts, body, failed=failed > 0))
    return (
        f'<section id="probes"><h2>Probes</h2><div class="cards">{"".join(cards)}</div></section>'
    )


def _source_name(source: Any) -> str:
    """``latency_p99_ms`` reads ``latency p99``."""
    found = as_text(source)
    return _SOURCE_NAMES.get(found) or found.removesuffix("_ms").replace("_", " ")


def _card(title: str, facts: list[str], body: str, *, failed: bool) -> str:
    shown = " · ".join(e(fact) for fact in facts if fact)
    css = "card card-fail" if failed else "card"
    return f'<article class="{css}"><h3>{e(title)}</h3><p class="facts">{shown}</p>{body}</article>'


# ---------------------------------------------------------------- helpers


def _scaled(value: Any, factor: float) -> float | None:
    found = number(value)
    return None if found is None else number(found * factor)  # x100 may overflow


def _timed(
    times: Sequence[float | None], values: Sequence[float | None], shift: float
) -> list[tuple[float, float | None]]:
    """(t, value) in time order; points without a time are dropped."""
    timed = [(t + shift, v) for t, v in zip(times, values, strict=True) if t is not None]
    return sorted(timed, key=lambda point: point[0])


def _legend(
    lines: Sequence[Line], rules: Sequence[Rule], room: Canvas, *, breaches: str | None = None
) -> str:
    items = [f'<li><span class="swatch {line.css}"></span>{e(line.label)}</li>' for line in lines]
    if any(rule.css == "threshold" for rule in rules):
        items.append('<li><span class="swatch threshold"></span>threshold</li>')
    if any(rule.css == "threshold-fault" for rule in rules):
        items.append('<li><span class="swatch threshold-fault"></span>threshold in fault</li>')
    if breaches:
        items.append(f'<li><span class="swatch dot"></span>{e(breaches)}</li>')
    if room.bands:
        items.append('<li><span class="swatch fault-window"></span>fault active</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'
