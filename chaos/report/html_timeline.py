"""The HTML report's timeline: phases on one row, each fault on its own row (applied →
ended, coloured by how it ended), stop conditions where they tripped.

It uses the charts' time axis and margins (:class:`chaos.report.html_canvas.Canvas`),
so it lines up with the charts drawn under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.report.html_canvas import Canvas, outcome
from chaos.report.html_charts import WIDE
from chaos.report.html_fields import as_text, e, flag, number, offset, rows
from chaos.report.svg import Frame, Scale, time_axis

PHASES = ("preflight", "baseline", "inject", "revert", "recovery", "verdict")
_PHASE_ROW = 28
_FAULT_ROW = 36
_STOP_ROW = 30
_TOP = 6
_CHAR_PX = 7  # rough width of one label character, to decide whether a name fits its bar


def timeline_svg(document: Mapping[str, Any], room: Canvas) -> str:
    faults = [f for f in rows(document.get("faults")) if number(f.get("applied_s")) is not None]
    stops = [
        s for s in rows(document.get("stop_conditions")) if number(s.get("tripped_s")) is not None
    ]
    height = _TOP + _PHASE_ROW + len(faults) * _FAULT_ROW + (_STOP_ROW if stops else 0)
    frame = Frame(WIDE.width, height + 30, left=WIDE.left, right=WIDE.right, top=_TOP)
    x = Scale(0.0, room.t_end, frame.x0, frame.x1)
    parts = [
        f'<svg class="timeline" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img" '
        f'aria-label="timeline of phases and faults">',
        _label("phases", _TOP + _PHASE_ROW / 2, frame),
        _phases(document, x, frame),
    ]
    top = _TOP + _PHASE_ROW
    for index, fault in enumerate(faults):
        if index == 0:
            parts.append(_label("faults", top + 24, frame))
        parts.append(_fault(fault, top, x, frame))
        top += _FAULT_ROW
    if stops:
        parts.append(_label("stops", top + 18, frame))
        parts += [_stop(stop, top, x, frame) for stop in stops]
    parts += [time_axis(x, frame), "</svg>"]
    return "".join(parts)


def _label(name: str, y: float, frame: Frame) -> str:
    return (
        f'<text class="row-label" x="{frame.x0 - 8}" y="{y + 4:.1f}" '
        f'text-anchor="end">{name}</text>'
    )


def _phases(document: Mapping[str, Any], x: Scale, frame: Frame) -> str:
    phases = [p for p in rows(document.get("phases")) if number(p.get("start_s")) is not None]
    parts = []
    for index, phase in enumerate(phases):
        start = number(phase.get("start_s")) or 0.0
        # a phase with no end (still running when the record stops) reaches the next one
        ends = [number(phase.get("end_s"))]
        ends += [number(later.get("start_s")) for later in phases[index + 1 : index + 2]]
        end = max(next((t for t in ends if t is not None), x.hi), start)
        name = as_text(phase.get("name"), "phase")
        holds = flag(phase.get("holds"))
        css = "phase phase-" + (name if name in PHASES else "other")
        css += " broken" if holds is False else ""
        verdict = {True: "hypothesis held", False: "hypothesis violated"}.get(holds, "")
        title = f"{name}: {offset(start)} → {offset(end)}" + (f", {verdict}" if verdict else "")
        left, width = x(start), max(x(end) - x(start), 1.0)
        parts.append(
            f'<rect class="{css}" x="{left:.1f}" y="{_TOP}" width="{width:.1f}" '
            f'height="{_PHASE_ROW - 6}"><title>{e(title)}</title></rect>'
        )
        if width > len(name) * _CHAR_PX + 8:
            mark = " ✗" if holds is False else ""
            parts.append(
                f'<text class="phase-name" x="{left + 5:.1f}" y="{_TOP + 15}">'
                f"{e(name)}{mark}</text>"
            )
    return "".join(parts)


def _fault(fault: Mapping[str, Any], top: float, x: Scale, frame: Frame) -> str:
    applied = number(fault.get("applied_s")) or 0.0
    ended = number(fault.get("ended_s"))
    words, css = outcome(fault.get("outcome"))
    left = x(applied)
    right = frame.x1 if ended is None else x(ended)
    label = (
        f"{as_text(fault.get('label'), 'fault')} · {offset(applied)} → "
        f"{offset(ended) if ended is not None else 'still active'} · {words}"
    )
    # the label starts at the bar, or ends at the plot's right edge when it would overflow
    text_x, anchor = left, "start"
    if left + len(label) * _CHAR_PX > frame.x1:
        text_x, anchor = frame.x1, "end"
    title = as_text(fault.get("message")) or label
    open_end = " open" if ended is None else ""
    return (
        f'<g class="fault-row"><text class="fault-label" x="{text_x:.1f}" y="{top + 13:.1f}" '
        f'text-anchor="{anchor}">{e(label)}</text>'
        f'<rect class="fault-bar {css}{open_end}" x="{left:.1f}" y="{top + 18:.1f}" '
        f'width="{max(right - left, 3.0):.1f}" height="12" rx="2">'
        f"<title>{e(title)}</title></rect></g>"
    )


def _stop(stop: Mapping[str, Any], top: float, x: Scale, frame: Frame) -> str:
    at = number(stop.get("tripped_s")) or 0.0
    px = x(at)
    name = as_text(stop.get("name"), "stop condition")
    label = f"{name} tripped at {offset(at)}"
    text_x, anchor = px + 9, "start"
    if px + 9 + len(label) * _CHAR_PX > frame.x1:
        text_x, anchor = px - 9, "end"
    return (
        f'<g class="stop-trip"><title>{e(as_text(stop.get("message")) or label)}</title>'
        f'<path d="M{px:.1f} {top + 8:.1f}l6 10h-12z"/>'
        f'<text x="{text_x:.1f}" y="{top + 17:.1f}" text-anchor="{anchor}">{e(label)}</text></g>'
    )
