"""Steady-state models: probes (pass/fail checks) and SLIs (numbers against thresholds)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from chaos.spec.base import NAME_PATTERN, URL_PATTERN, Codes, Model
from chaos.spec.limits import MAX_PROBES, MIN_INTERVAL_S
from chaos.spec.units import Duration, ThresholdField


class BodyMatch(Model):
    contains: str | None = None
    regex: str | None = None


class JsonMatch(Model):
    path: str = Field(min_length=1, description="Dotted path with [index], e.g. items[0].name")
    equals: Any = None
    exists: bool = True


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"


class HttpProbeSpec(Model):
    url: str = Field(pattern=URL_PATTERN, description="http:// or https:// URL")
    method: HttpMethod = HttpMethod.GET
    status: Codes = Field(default=(200,), description="Accepted status codes")
    timeout: Duration = 2.0
    latency: ThresholdField | None = Field(
        default=None, description='Latency threshold in ms, e.g. "< 500"'
    )
    body: BodyMatch | None = None
    json_match: tuple[JsonMatch, ...] = Field(default=(), alias="json")
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("json_match", mode="before")
    @classmethod
    def _json_one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class CommandProbeSpec(Model):
    argv: tuple[str, ...] = Field(
        min_length=1, description="Program and arguments, run without a shell."
    )
    exit_code: Codes = Field(default=(0,), description="Accepted exit codes")
    stdout: BodyMatch | None = Field(default=None, description="What standard output must hold")
    timeout: Duration = Field(default=5.0, gt=0)
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the command."
    )


class ProbeSpec(Model):
    """A pass/fail check of the system: exactly one of ``http`` or ``command``."""

    name: str = Field(pattern=NAME_PATTERN)
    http: HttpProbeSpec | None = None
    command: CommandProbeSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ProbeSpec:
        if (self.http is None) == (self.command is None):
            raise ValueError("a probe needs exactly one of: http, command")
        return self

    @property
    def timeout(self) -> float:
        spec = self.http or self.command
        assert spec is not None
        return spec.timeout


class LoadMetric(StrEnum):
    """SLIs computed by the platform from every request Locust makes, per second."""

    THROUGHPUT = "throughput_rps"
    ERROR_RATIO = "error_ratio"
    LATENCY_P50 = "latency_p50_ms"
    LATENCY_P90 = "latency_p90_ms"
    LATENCY_P95 = "latency_p95_ms"
    LATENCY_P99 = "latency_p99_ms"
    LATENCY_MAX = "latency_max_ms"


class PrometheusSpec(Model):
    url: str = Field(pattern=URL_PATTERN, description="Base URL of the Prometheus server")
    query: str = Field(
        min_length=1, description="PromQL instant query returning one series or a scalar."
    )
    timeout: Duration = Field(default=2.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class SliSpec(Model):
    """A service-level indicator: a number per sample, judged against a threshold."""

    name: str = Field(pattern=NAME_PATTERN)
    metric: LoadMetric | None = Field(
        default=None, description="A load SLI, computed from the experiment's Locust load."
    )
    prometheus: PrometheusSpec | None = None
    threshold: ThresholdField = Field(description='What must hold, e.g. "< 300" or "<= 1%"')
    window: Duration = Field(
        default=1.0,
        ge=1.0,
        description="Each point is computed over this much of the phase (load: merged "
        "histograms of whole seconds; prometheus: mean of the samples).",
    )
    for_: Duration = Field(
        default=0.0,
        alias="for",
        ge=0,
        description="How long the threshold must stay breached to violate the hypothesis.",
    )
    during_fault: ThresholdField | None = Field(
        default=None, description="A looser threshold while faults are active."
    )

    @model_validator(mode="after")
    def _one_source(self) -> SliSpec:
        if (self.metric is None) == (self.prometheus is None):
            raise ValueError("an SLI needs exactly one source: metric (load) or prometheus")
        return self


class SteadyState(Model):
    probes: tuple[ProbeSpec, ...] = Field(default=(), max_length=MAX_PROBES)
    slis: tuple[SliSpec, ...] = Field(default=(), max_length=MAX_PROBES)
    interval: Duration = Field(default=1.0, ge=MIN_INTERVAL_S)
    min_pass_ratio: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Share of a probe's samples that must pass in baseline and during faults.",
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> SteadyState:
        if not self.probes and not self.slis:
            raise ValueError("the steady state needs at least one probe or SLI")
        return self
