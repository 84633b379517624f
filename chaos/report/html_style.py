"""The HTML report's inline stylesheet and its one small script.

System fonts only (no web font to download); green, red and amber mean passed,
failed and aborted everywhere; the page prints on white with its sections kept
whole. The script only adds a hover read-out to the load charts: every chart is
SVG drawn server-side, so the page is complete without it.
"""

from __future__ import annotations

STYLE = """
:root {
  --ink: #1f2933; --muted: #5f6b7a; --line: #e1e6ec; --panel: #fff; --page: #f4f6f9;
  --pass: #1a7f37; --pass-bg: #e7f5ec; --fail: #c62828; --fail-bg: #fdeced;
  --abort: #a15c00; --abort-bg: #fff3dc; --error: #7b2cbf; --error-bg: #f4eafd;
  --neutral: #52606d; --neutral-bg: #eef1f4; --running: #1d4ed8; --running-bg: #e8efff;
  --fault: rgba(245, 158, 11, 0.17); --threshold: #b91c1c; --threshold-fault: #9a5b00;
}
* { box-sizing: border-box; }
html { font-size: 15px; }
body {
  margin: 0; background: var(--page); color: var(--ink); line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "DejaVu Sans", sans-serif;
}
.report { max-width: 1180px; margin: 0 auto; padding: 24px 24px 40px; }
h1 { font-size: 1.85rem; line-height: 1.2; margin: 2px 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 1.12rem; margin: 0 0 12px; }
h3 { font-size: 0.98rem; margin: 0 0 2px; }
code { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 0.92em; background: var(--neutral-bg); padding: 1px 5px; border-radius: 4px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px; margin: 0 0 16px; }
.muted, .note { color: var(--muted); }
.note { font-size: 0.84rem; margin: 8px 0 0; }

.report-header { display: flex; justify-content: space-between; align-items: flex-start;
  gap: 24px; margin: 0 0 16px; }
.eyebrow { margin: 0; font-size: 0.74rem; font-weight: 700; letter-spacing: 0.09em;
  text-transform: uppercase; color: var(--muted); }
.description { margin: 0 0 10px; color: var(--muted); font-size: 1.04rem; max-width: 75ch; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; font-size: 0.86rem; }
.meta div { display: flex; gap: 6px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.verdict-badge { flex: none; min-width: 200px; display: flex; flex-direction: column;
  align-items: center; padding: 14px 22px; border-radius: 12px; border: 2px solid; }
.verdict-badge .status { font-size: 1.9rem; font-weight: 800; letter-spacing: 0.05em; }
.verdict-badge .exit { font-size: 0.9rem; font-weight: 600; }
.status-passed { color: var(--pass); background: var(--pass-bg); }
.status-failed { color: var(--fail); background: var(--fail-bg); }
.status-aborted, .status-interrupted { color: var(--abort); background: var(--abort-bg); }
.status-error { color: var(--error); background: var(--error-bg); }
.status-running { color: var(--running); background: var(--running-bg); }
.status-unknown { color: var(--neutral); background: var(--neutral-bg); }

section.outcome { border-left: 5px solid; background: var(--panel); color: var(--ink); }
section.outcome.status-passed { border-left-color: var(--pass); }
section.outcome.status-failed { border-left-color: var(--fail); }
section.outcome.status-aborted, section.outcome.status-interrupted {
  border-left-color: var(--abort); }
section.outcome.status-error { border-left-color: var(--error); }
section.outcome.status-running { border-left-color: var(--running); }
section.outcome.status-unknown { border-left-color: var(--neutral); }
.outcome .reasons { margin: 0; padding-left: 1.2em; font-weight: 600; }
.gate-note { margin: 8px 0 0; color: var(--muted); }
.outcome .callout { margin: 12px 0 0; }
.callout { border: 1px solid; border-left-width: 5px; border-radius: 8px; padding: 12px 16px;
  margin: 0 0 16px; }
.callout ul { margin: 6px 0 0; padding-left: 1.2em; }
.callout-fail { background: var(--fail-bg); border-color: var(--fail); }
.callout-warn { background: var(--abort-bg); border-color: var(--abort); }
.callout h2 { margin: 0 0 4px; }
.callout p { margin: 0; }

.figures { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px;
  background: none; border: 0; padding: 0; }
.figure { display: flex; flex-direction: column; background: var(--panel);
  border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.figure-name { font-size: 0.74rem; font-weight: 700; letter-spacing: 0.05em;
  text-transform: uppercase; color: var(--muted); }
.figure-value { font-size: 1.35rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.figure-note { font-size: 0.82rem; color: var(--muted); }

figure { margin: 0 0 18px; }
figure:last-of-type { margin-bottom: 0; }
figcaption { font-weight: 700; font-size: 0.95rem; }
svg.chart, svg.timeline { display: block; width: 100%; height: auto; font-family: inherit;
  font-size: 11px; }
.grid line { stroke: #edf0f4; }
.axis line { stroke: #9aa5b1; }
.tick { fill: var(--muted); font-size: 11px; font-variant-numeric: tabular-nums; }
.series path { fill: none; stroke: var(--c); stroke-width: 1.7; stroke-linejoin: round;
  stroke-linecap: round; }
.series circle { fill: var(--c); }
.c-throughput { --c: #2563eb; } .c-failures { --c: #dc2626; } .c-errors { --c: #c2410c; }
.c-p50 { --c: #0d9488; } .c-p90 { --c: #2563eb; } .c-p95 { --c: #0891b2; }
.c-p99 { --c: #7c3aed; } .c-max { --c: #64748b; } .c-sli { --c: #2563eb; }
.c-probe { --c: #0d9488; }
rect.fault-window { fill: var(--fault); }
rect.fault-window.open { fill: rgba(220, 38, 38, 0.1); }
line.phase-line { stroke: #a7b1bc; stroke-dasharray: 2 3; }
line.stop-trip { stroke: var(--fail); stroke-width: 1.5; }
g.threshold line { stroke: var(--threshold); stroke-width: 1.4; stroke-dasharray: 7 4; }
g.threshold-fault line { stroke: var(--threshold-fault); stroke-width: 1.8;
  stroke-dasharray: 2 3; }
g.threshold text, g.threshold-fault text { font-size: 11px; font-weight: 700;
  paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
g.threshold text { fill: var(--threshold); }
g.threshold-fault text { fill: var(--threshold-fault); }
g.off-scale line { stroke-opacity: 0.6; }
circle.breach, circle.probe-failed { fill: #dc2626; stroke: #fff; stroke-width: 1; }
line.crosshair { stroke: #334155; stroke-dasharray: 3 3; pointer-events: none; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 2px 16px; padding: 0;
  margin: 2px 0 4px; font-size: 0.82rem; color: var(--muted); }
.swatch { display: inline-block; width: 22px; height: 3px; margin-right: 6px;
  vertical-align: middle; border-radius: 2px; background: var(--c); }
.swatch.threshold { height: 2px;
  background: repeating-linear-gradient(90deg, var(--threshold) 0 6px, transparent 6px 9px); }
.swatch.threshold-fault { height: 2px; background: repeating-linear-gradient(90deg,
  var(--threshold-fault) 0 2px, transparent 2px 4px); }
.swatch.dot { width: 8px; height: 8px; border-radius: 50%; background: #dc2626; }
.swatch.fault-window { height: 10px; background: rgba(245, 158, 11, 0.35); }
.readout { position: sticky; top: 0; z-index: 1; min-height: 1.5em; margin: -4px 0 8px;
  padding: 4px 0; background: var(--panel); border-bottom: 1px solid var(--line);
  font-size: 0.85rem; font-variant-numeric: tabular-nums; }

rect.phase { stroke: #fff; stroke-width: 1; }
rect.phase.broken { stroke: var(--fail); stroke-width: 2; }
.phase-preflight { fill: #e2e8f0; } .phase-baseline { fill: #dbeafe; }
.phase-inject { fill: #fde68a; } .phase-revert { fill: #e9d5ff; }
.phase-recovery { fill: #bbf7d0; } .phase-verdict { fill: #e5e7eb; }
.phase-other { fill: #f1f5f9; }
.phase-name { font-size: 11px; font-weight: 700; fill: #1f2933; }
.row-label { font-size: 10.5px; font-weight: 700; letter-spacing: 0.05em;
  text-transform: uppercase; fill: var(--muted); }
.fault-label { font-size: 11.5px; fill: var(--ink); }
.fault-bar.open { fill-opacity: 0.5; }
g.stop-trip path, g.stop-trip text { fill: var(--fail); }
g.stop-trip text { font-size: 11.5px; font-weight: 700; }
.fault-bar.outcome-reverted { fill: var(--pass); }
.fault-bar.outcome-irreversible, .fault-bar.outcome-unknown { fill: var(--neutral); }
.fault-bar.outcome-revert_failed, .fault-bar.outcome-active_at_end,
.fault-bar.outcome-apply_failed { fill: var(--fail); }
.fault-bar.outcome-lease_lost { fill: #d97706; }

.cards { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px 8px; }
.card-fail { border-color: #efb1b1; }
.facts { margin: 0 0 2px; font-size: 0.82rem; color: var(--muted); }
.placeholder { margin: 0; padding: 28px 16px; text-align: center; color: var(--muted);
  background: #fafbfc; border: 1px dashed #c5ced8; border-radius: 8px; }

.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
th { text-align: left; padding: 6px 10px; font-size: 0.74rem; font-weight: 700;
  letter-spacing: 0.04em; text-transform: uppercase; color: var(--muted);
  border-bottom: 2px solid var(--line); }
td { padding: 7px 10px; vertical-align: top; border-bottom: 1px solid var(--line); }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.fail td, tr.outcome-revert_failed td, tr.outcome-active_at_end td,
tr.outcome-apply_failed td { background: var(--fail-bg); }
tr.outcome-lease_lost td { background: var(--abort-bg); }
tr.fail td:first-child { box-shadow: inset 4px 0 var(--fail); }
.kind { font-size: 0.72rem; font-weight: 700; letter-spacing: 0.05em; text-transform: uppercase;
  color: var(--muted); }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.8rem;
  font-weight: 700; white-space: nowrap; }
.badge-pass, .badge.outcome-reverted { color: var(--pass); background: var(--pass-bg); }
.badge-fail, .badge.outcome-revert_failed, .badge.outcome-active_at_end,
.badge.outcome-apply_failed { color: var(--fail); background: var(--fail-bg); }
.badge-abort, .badge.outcome-lease_lost { color: var(--abort); background: var(--abort-bg); }
.badge-neutral, .badge.outcome-irreversible, .badge.outcome-unknown {
  color: var(--neutral); background: var(--neutral-bg); }
.headline { margin: 0 0 10px; font-size: 1.08rem; font-weight: 700; }
.headline-pass { color: var(--pass); } .headline-fail { color: var(--fail); }
.headline-neutral { color: var(--muted); }
.notes { margin: 10px 0 0; padding-left: 1.2em; color: var(--muted); }
details > summary { cursor: pointer; }
details > summary h2 { display: inline; }
details[open] > summary { margin-bottom: 10px; }
.report-footer { margin-top: 22px; text-align: center; font-size: 0.8rem; color: var(--muted); }

@media (max-width: 900px) {
  .report-header { flex-direction: column; }
  .figures { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .cards { grid-template-columns: minmax(0, 1fr); }
}
@media print {
  body { background: #fff; }
  .report { max-width: none; padding: 0; }
  section, .figure, figure, .card, tr { break-inside: avoid; }
  section { border-color: #c9d1d9; }
  .readout, line.crosshair { display: none; }
}
"""

SCRIPT = """
(function () {
  "use strict";
  var data = document.getElementById("load-data");
  var out = document.getElementById("load-readout");
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
  if (!data || !out) { return; }
  var rows = JSON.parse(data.textContent);
  var charts = Array.prototype.slice.call(document.querySelectorAll("svg[data-readout]"));
  var hint = "Point at a chart to read that second's figures.";
  out.textContent = rows.length ? hint : "";
  function fixed(v, digits, unit) { return v === null ? "\\u2013" : v.toFixed(digits) + unit; }
  function describe(r) {
    return "t+" + r[1] + "s (" + r[2] + ") \\u00b7 " + fixed(r[5], 1, " req/s") +
      " \\u00b7 " + fixed(r[4], 0, " failed") + " \\u00b7 errors " +
      (r[6] === null ? "\\u2013" : (r[6] * 100).toFixed(2) + "%") +
      " \\u00b7 p50 " + fixed(r[7], 1, " ms") + " \\u00b7 p90 " + fixed(r[8], 1, " ms") +
      " \\u00b7 p99 " + fixed(r[9], 1, " ms");
  }
  function nearest(t) {
    var lo = 0, hi = rows.length - 1;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (rows[mid][0] < t) { lo = mid + 1; } else { hi = mid; }
    }
    if (lo > 0 && t - rows[lo - 1][0] < rows[lo][0] - t) { lo -= 1; }
    return rows[lo];
  }
  function cross(t) {
    charts.forEach(function (svg) {
      var line = svg.querySelector("line.crosshair");
      if (t === null) { line.setAttribute("visibility", "hidden"); return; }
      var x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, t1 = +svg.dataset.t1;
      var x = x0 + t / t1 * (x1 - x0);
      line.setAttribute("x1", x);
      line.setAttribute("x2", x);
      line.setAttribute("visibility", "visible");
    });
  }
  charts.forEach(function (svg) {
    svg.addEventListener("mousemove", function (event) {
      var box = svg.getBoundingClientRect();
      if (!rows.length || !box.width) { return; }
      var x = (event.clientX - box.left) / box.width * svg.viewBox.baseVal.width;
      var x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, t1 = +svg.dataset.t1;
      if (x < x0 || x > x1) { cross(null); out.textContent = hint; return; }
      var row = nearest((x - x0) / (x1 - x0) * t1);
      cross(row[0]);
      out.textContent = describe(row);
    });
    svg.addEventListener("mouseleave", function () { cross(null); out.textContent = hint; });
  });
})();
"""
