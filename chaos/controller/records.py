"""Run records as events carry them (and the store keeps them): probe samples, SLI
points and seconds of load, as plain JSON-ready dicts."""

from __future__ import annotations

import math
from typing import Any

from chaos.load.stats import LoadWindow, load_metric
from chaos.spec.steady import LoadMetric
from chaos.steady.hypothesis import Observation
from chaos.steady.slis import SliPoint


def finite(value: float) -> float | None:
    """NaN (no data) as None, for JSON."""
    return None if math.isnan(value) else value


def sample_data(observation: Observation) -> dict[str, Any]:
    sample = observation.sample
    return {
        "tick": observation.tick,
        "probe": sample.probe,
        "ok": sample.ok,
        "latency_ms": sample.latency_ms,
        "status": sample.status,
        "error": sample.error,
        "started_at": sample.started_at,
        "value": sample.value,
    }


def point_data(point: SliPoint, ok: bool) -> dict[str, Any]:
    return {
        "sli": point.sli,
        "at": point.at,
        "value": None if math.isnan(point.value) else point.value,
        "ok": ok,
        "detail": point.detail,
        "step": point.step,
    }


def window_data(window: LoadWindow) -> dict[str, Any]:
    """One second of load as stored: counts, every load SLI over that second, histogram."""
    metrics = {
        metric.value: finite(load_metric([window], metric, seconds=1)) for metric in LoadMetric
    }
    data = window.to_json()
    return {
        "second": window.second,
        "requests": window.requests,
        "failures": window.failures,
        "users": window.users,
        "metrics": metrics,
        "histogram": data.get("histogram", {}),
        "errors": data.get("errors", {}),
    }
