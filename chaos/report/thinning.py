"""Series for drawing: split at gaps, and thinned to what a chart's pixels can show.

An hour of one point a second is 3600 points per line, more than a chart has pixel
columns (~1070). Drawing them all only makes the page heavier: a pixel column shows
the span between its lowest and highest value either way. So :func:`thin` keeps
those two per column, in time order; the line looks the same and a one-second spike
is still drawn at its full height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

Point = tuple[float, float | None]


def segments(points: Iterable[Point]) -> list[list[tuple[float, float]]]:
    """Runs of points with values: a null ends one, so the line shows a gap there."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, value in points:
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((t, value))
    return [run for run in runs if run]


def thin(
    points: Sequence[tuple[float, float]], x: Callable[[float], float], columns: int
) -> list[tuple[float, float]]:
    """At most two points per pixel column (``x`` maps a time to its pixel): the lowest
    and the highest, in time order. Series that already fit are returned as they are."""
    if len(points) <= 2 * columns:
        return list(points)
    kept: list[tuple[float, float]] = []
    column: int | None = None
    low = high = points[0]
    for point in points:
        here = int(x(point[0]))
        if here != column:
            if column is not None:
                kept += _extremes(low, high)
            column, low, high = here, point, point
        elif point[1] < low[1]:
            low = point
        elif point[1] > high[1]:
            high = point
    kept += _extremes(low, high)
    return kept


def _extremes(low: tuple[float, float], high: tuple[float, float]) -> list[tuple[float, float]]:
    if low is high:
        return [low]
    return [low, high] if low[0] <= high[0] else [high, low]
