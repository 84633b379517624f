"""Time-series charts as inline SVG, drawn server-side: no JavaScript, no chart library.

A chart plots values over seconds since the run started. Lines break at nulls
(missing data is a gap, never a zero). Long series are thinned per pixel column
before drawing (:func:`chaos.report.thinning.thin`), so an hour of per-second points
costs about as much as a few minutes. Colours and strokes come from CSS classes the
page defines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chaos.report.html_fields import e
from chaos.report.thinning import Point, segments, thin

# a threshold far above the data would squash the data into the bottom pixels: one
# more than this many times the highest value is pinned to the top edge instead
_THRESHOLD_HEADROOM = 3.0
# no real value or run length comes near: values beyond it are drawn at the edge, which
# keeps the scale and tick arithmetic finite whatever a document holds
LIMIT = 1e12
_TICK_SPACING = 100  # pixels per time tick, at most
_TIME_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True)
class Frame:
    """A chart's size in pixels and where its plot area sits."""

    width: int
    height: int
    left: int = 64
    right: int = 16
    top: int = 12
    bottom: int = 26

    @property
    def x0(self) -> int:
        return self.left

    @property
    def x1(self) -> int:
        return self.width - self.right

    @property
    def y0(self) -> int:
        return self.height - self.bottom

    @property
    def y1(self) -> int:
        return self.top


@dataclass(frozen=True)
class Scale:
    """Maps a domain (seconds, values) onto a pixel range linearly."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        return self.start + (value - self.lo) / span * (self.end - self.start)


@dataclass(frozen=True)
class Line:
    """A series; ``css`` is its colour class (shared with its legend swatch)."""

    label: str
    points: Sequence[Point]
    css: str


@dataclass(frozen=True)
class Band:
    """A shaded time window (a fault); ``end`` None: still open when the data ends."""

    start: float
    end: float | None
    css: str
    title: str


@dataclass(frozen=True)
class Rule:
    """A horizontal threshold; ``spans`` limits it to time windows (None: all of it)."""

    value: float
    label: str
    css: str
    spans: Sequence[tuple[float, float | None]] | None = None


@dataclass(frozen=True)
class Marker:
    """A point to call out (a breached threshold, a failed probe)."""

    t: float
    value: float | None
    css: str


@dataclass(frozen=True)
class Mark:
    """A vertical line at one time (a phase boundary, a stop condition tripping)."""

    t: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Everything one chart draws; ``unit`` follows each y tick (``ms``, ``%``)."""

    label: str
    t_end: float
    unit: str = ""
    lines: Sequence[Line] = ()
    bands: Sequence[Band] = ()
    rules: Sequence[Rule] = ()
    markers: Sequence[Marker] = ()
    marks: Sequence[Mark] = ()
    attributes: dict[str, str] = field(default_factory=dict)


def render_chart(chart: Chart, frame: Frame) -> str:
    """The chart as one ``<svg>`` element, scaled to its container's width."""
    x = Scale(0.0, min(chart.t_end, LIMIT) if chart.t_end > 0 else 1.0, frame.x0, frame.x1)
    y = Scale(*_value_domain(chart), frame.y0, frame.y1)
    attributes = "".join(f' {name}="{e(value)}"' for name, value in chart.attributes.items())
    parts = [
        f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img" '
        f'aria-label="{e(chart.label)}" data-x0="{frame.x0}" data-x1="{frame.x1}" '
        f'data-t0="0" data-t1="{x.hi:g}"{attributes}>',
        _bands(chart.bands, x, frame),
        _grid(y, frame, chart.unit),
        time_axis(x, frame),
        *(_mark(mark, x, frame) for mark in chart.marks),
        *(_line(line, x, y) for line in chart.lines),
        *(_rule(rule, x, y, frame) for rule in chart.rules),
        _markers(chart.markers, x, y),
        f'<line class="crosshair" x1="{frame.x0}" x2="{frame.x0}" y1="{frame.y1}" '
        f'y2="{frame.y0}" visibility="hidden"/>',
        "</svg>",
    ]
    return "".join(parts)


# ---------------------------------------------------------------- scales and ticks


def _value_domain(chart: Chart) -> tuple[float, float]:
    values = [v for line in chart.lines for _, v in line.points if v is not None]
    values += [m.value for m in chart.markers if m.value is not None]
    top = max(values, default=0.0)
    bottom = min(0.0, *values) if values else 0.0
    for rule in chart.rules:
        if top <= 0 or rule.value <= top * _THRESHOLD_HEADROOM:
            top, bottom = max(top, rule.value), min(bottom, rule.value)
    top, bottom = min(top, LIMIT), max(bottom, -LIMIT)
    if top - bottom < 1 / LIMIT:  # flat (or all zero): one unit of height
        top = bottom + 1.0
    step = _nice_step((top - bottom) / 5)
    return math.floor(bottom / step) * step, math.ceil(top / step) * step


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def value_ticks(lo: float, hi: float) -> list[float]:
    step = _nice_step((hi - lo) / 5)
    count = int((hi - lo) / step + 1e-9)
    return [lo + i * step for i in range(count + 1)]


def time_ticks(end: float, *, most: int) -> list[float]:
    step = next((s for s in _TIME_STEPS if end / s <= most), None)
    if step is None:  # more than a day: whole hours
        step = 3600 * math.ceil(end / most / 3600)
    return [i * step for i in range(int(end / step + 1e-9) + 1)]


def time_label(t: float) -> str:
    if t < 60:
        return f"{t:g}s"
    whole = round(t)
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h" if minutes == 0 else f"{hours}h{minutes:02d}m"


def value_label(value: float, unit: str) -> str:
    if abs(value) >= 1e6:
        shown = f"{value:.3g}"
    else:
        shown = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"{shown}{unit}" if unit in ("%", "/s") else f"{shown} {unit}".rstrip()


# ---------------------------------------------------------------- drawing


def _grid(y: Scale, frame: Frame, unit: str) -> str:
    parts = ['<g class="grid">']
    for tick in value_ticks(y.lo, y.hi):
        py = y(tick)
        parts.append(
            f'<line x1="{frame.x0}" x2="{frame.x1}" y1="{py:.1f}" y2="{py:.1f}"/>'
            f'<text class="tick" x="{frame.x0 - 6}" y="{py + 4:.1f}" text-anchor="end">'
            f"{e(value_label(tick, unit))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def time_axis(x: Scale, frame: Frame) -> str:
    most = max(2, (frame.x1 - frame.x0) // _TICK_SPACING)
    parts = [
        f'<g class="axis"><line x1="{frame.x0}" x2="{frame.x1}" y1="{frame.y0}" y2="{frame.y0}"/>'
    ]
    for tick in time_ticks(x.hi, most=most):
        px = x(tick)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{frame.y0}" y2="{frame.y0 + 4}"/>'
            f'<text class="tick" x="{px:.1f}" y="{frame.y0 + 16}" text-anchor="middle">'
            f"{time_label(tick)}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _bands(bands: Iterable[Band], x: Scale, frame: Frame) -> str:
    parts = []
    for band in bands:
        start = min(max(x(band.start), frame.x0), frame.x1)
        end = frame.x1 if band.end is None else min(max(x(band.end), frame.x0), frame.x1)
        css = band.css + (" open" if band.end is None else "")
        parts.append(
            f'<rect class="{css}" x="{start:.1f}" y="{frame.y1}" '
            f'width="{max(end - start, 2.0):.1f}" height="{frame.y0 - frame.y1}">'
            f"<title>{e(band.title)}</title></rect>"
        )
    return "".join(parts)


def _mark(mark: Mark, x: Scale, frame: Frame) -> str:
    px = x(mark.t)
    return (
        f'<line class="{mark.css}" x1="{px:.1f}" x2="{px:.1f}" y1="{frame.y1}" '
        f'y2="{frame.y0}"><title>{e(mark.title)}</title></line>'
    )


def _line(line: Line, x: Scale, y: Scale) -> str:
    columns = max(1, int(abs(x.end - x.start)))
    paths, dots = [], []
    for segment in segments(line.points):
        pixels = [(x(t), y(v)) for t, v in thin(segment, x, columns)]
        if len(pixels) == 1:
            dots.append(f'<circle cx="{pixels[0][0]:.1f}" cy="{pixels[0][1]:.1f}" r="2.5"/>')
        else:
            paths.append("M" + " ".join(f"{px:.1f} {py:.1f}" for px, py in pixels))
    drawn = f'<path d="{"".join(paths)}"/>' if paths else ""
    return f'<g class="series {line.css}" data-label="{e(line.label)}">{drawn}{"".join(dots)}</g>'


def _rule(rule: Rule, x: Scale, y: Scale, frame: Frame) -> str:
    off_scale = rule.value > y.hi
    py = frame.y1 if off_scale else y(rule.value)
    spans = rule.spans if rule.spans is not None else [(0.0, x.hi)]
    css = rule.css + (" off-scale" if off_scale else "")
    label = ("↑ " if off_scale else "") + rule.label
    parts = [f'<g class="{css}"><title>{e(label)}</title>']
    for start, end in spans:
        x_start = max(x(start), frame.x0)
        x_end = frame.x1 if end is None else min(x(end), frame.x1)
        parts.append(f'<line x1="{x_start:.1f}" x2="{x_end:.1f}" y1="{py:.1f}" y2="{py:.1f}"/>')
    x_label = frame.x1 - 4 if rule.spans is None else min(x(spans[0][0]) + 4, frame.x1 - 4)
    anchor = "end" if rule.spans is None else "start"
    y_label = py + 12 if off_scale or py - 4 < frame.y1 + 8 else py - 4
    parts.append(
        f'<text x="{x_label:.1f}" y="{y_label:.1f}" text-anchor="{anchor}">{e(label)}</text></g>'
    )
    return "".join(parts)


def _markers(markers: Sequence[Marker], x: Scale, y: Scale) -> str:
    seen: set[tuple[str, int, int]] = set()
    parts = []
    for marker in markers:
        px, py = x(marker.t), y(marker.value if marker.value is not None else y.lo)
        key = (marker.css, int(px), int(py) // 3)  # one marker per pixel column and height
        if key in seen:
            continue
        seen.add(key)
        parts.append(f'<circle class="{marker.css}" cx="{px:.1f}" cy="{py:.1f}" r="3"/>')
    return f'<g class="markers">{"".join(parts)}</g>' if parts else ""
