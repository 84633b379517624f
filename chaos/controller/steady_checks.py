"""What the sampler runs every interval: each probe, and each Prometheus SLI's query."""

from __future__ import annotations

from typing import Any

from chaos.spec.steady import SteadyState
from chaos.steady.probes import build_probe
from chaos.steady.prometheus import PrometheusQuery


def steady_checks(steady: SteadyState) -> list[Any]:
    """Probes and Prometheus queries alike: each gives one sample per interval."""
    checks: list[Any] = [build_probe(probe) for probe in steady.probes]
    checks += [PrometheusQuery(sli.name, sli.prometheus) for sli in steady.slis if sli.prometheus]
    return checks


def longest_timeout(steady: SteadyState) -> float:
    """The slowest a check may be: how long an in-flight sample can still take."""
    timeouts = [probe.timeout for probe in steady.probes]
    timeouts += [sli.prometheus.timeout for sli in steady.slis if sli.prometheus]
    return max(timeouts, default=0.0)
