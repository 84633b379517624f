"""Experiment format v1: frozen, typed models (reference: docs/experiment-reference.md).

Field names are snake_case in Python and camelCase in YAML (``steadyState``,
``stopConditions``), as in Kubernetes manifests. Unknown fields are errors.
Fault parameters are validated against the fault's own model by the loader
(see :mod:`chaos.spec.loader`), because the fault catalogue lives in a layer
above this one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chaos.spec.units import Duration, LimitField, ModeField, ThresholdField, parse_mode

API_VERSION = "chaos/v1"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
URL_PATTERN = r"^https?://"


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, int) and not isinstance(value, bool) else value


Codes = Annotated[
    tuple[int, ...],
    BeforeValidator(_one_or_many),
    WithJsonSchema(
        {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    ),
]
"""Status or exit codes: one (``200``) or a list (``[200, 204]``)."""


class Model(BaseModel):
    """Base of every experiment model: frozen, strict about unknown fields, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        arbitrary_types_allowed=True,
    )


class FaultParams(Model):
    """Base of every fault's parameter model (each fault module subclasses it)."""

    def target_refs(self) -> dict[str, list[str]]:
        """Parameters that name other targets of the experiment, by field name.

        The loader checks that each named target exists; planning resolves them.
        """
        return {}


class Metadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="Lower-case name, digits and dashes.")
    description: str = ""
    tags: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()


class TargetKind(StrEnum):
    """Kinds of target with a backend today; container and pod arrive with their backends."""

    PROCESS = "process"


class Selector(Model):
    labels: dict[str, str] = Field(
        min_length=1, description="Every label must match (for lab processes: CHAOS_LABELS)."
    )
    lab: str | None = Field(
        default=None,
        description="Lab id the processes must belong to; defaults to the run's --lab.",
    )


class TargetSpec(Model):
    kind: TargetKind = TargetKind.PROCESS
    selector: Selector
    mode: ModeField = Field(default_factory=lambda: parse_mode("all"))


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


class HttpTaskMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class LoadTask(Model):
    """One HTTP request of the built-in load, picked in proportion to its weight."""

    name: str | None = None
    method: HttpTaskMethod = HttpTaskMethod.GET
    path: str = Field(pattern=r"^/", description="Path on the load's host, e.g. /items?page=1")
    weight: int = Field(default=1, ge=1)
    status: Codes = Field(default=(200,), description="Statuses counted as success")
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class LoadSpec(Model):
    """Locust load that runs from the start of baseline to the end of recovery."""

    host: str = Field(pattern=URL_PATTERN, description="Base URL the users request")
    locustfile: str | None = Field(
        default=None, description="Your locustfile, relative to the experiment file."
    )
    tasks: tuple[LoadTask, ...] = Field(
        default=(), description="Built-in HTTP tasks, instead of a locustfile."
    )
    users: int = Field(default=10, ge=1)
    spawn_rate: float | None = Field(
        default=None, gt=0, description="Users started per second (default: all at once)."
    )
    wait: Duration = Field(
        default=0.0, ge=0, description="Built-in tasks: pause of each user between requests."
    )
    timeout: Duration = Field(
        default=10.0,
        gt=0,
        description="Built-in tasks: a request waiting longer (to connect, or for data) fails.",
    )
    workers: int = Field(
        default=0, ge=0, description="Local Locust workers under a Locust master (0: one process)."
    )
    remote_workers: int = Field(
        default=0, ge=0, description="Workers started elsewhere that attach to the master."
    )
    master_bind: str = Field(
        default="0.0.0.0:5557",
        pattern=r"^[^\s:]+:\d{1,5}$",
        description="Where the master listens for remote workers (host:port).",
    )
    ready_timeout: Duration = Field(
        default=60.0, gt=0, description="How long to wait for every user (and worker) to start."
    )

    @model_validator(mode="after")
    def _one_source(self) -> LoadSpec:
        if (self.locustfile is None) == (not self.tasks):
            raise ValueError("load needs exactly one of: locustfile, tasks")
        return self


class SteadyState(Model):
    probes: tuple[ProbeSpec, ...] = ()
    slis: tuple[SliSpec, ...] = ()
    interval: Duration = Field(default=1.0, gt=0)
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


class Phases(Model):
    baseline: Duration = Field(default=5.0, ge=0)
    recovery: Duration = Field(default=30.0, ge=0)
    recovery_samples: int = Field(
        default=3, ge=1, description="Consecutive passing samples that count as recovered."
    )
    tolerate_during_fault: tuple[str, ...] = Field(
        default=(), description="Probes and SLIs exempt from judgement while faults are active."
    )


class FaultStep(Model):
    fault: str = Field(min_length=1)
    target: str = Field(min_length=1)
    name: str | None = None
    params: FaultParams = Field(default_factory=FaultParams)
    duration: Duration | None = Field(
        default=None,
        ge=0,
        description="How long the fault stays applied (for a kill: how long to observe).",
    )


class PauseStep(Model):
    pause: Duration = Field(ge=0)


class ParallelStep(Model):
    parallel: tuple[Annotated[FaultStep, Tag("FaultStep")], ...] = Field(min_length=1)


def _step_kind(value: Any) -> str | None:
    data = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    for key, tag in (("fault", "FaultStep"), ("pause", "PauseStep"), ("parallel", "ParallelStep")):
        if key in data:
            return tag
    return None


Step = Annotated[
    Annotated[FaultStep, Tag("FaultStep")]
    | Annotated[PauseStep, Tag("PauseStep")]
    | Annotated[ParallelStep, Tag("ParallelStep")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs one of: fault, pause, parallel",
    ),
]
STEP_TAGS = frozenset({"FaultStep", "PauseStep", "ParallelStep"})


class StopCondition(Model):
    """Abort the run at once: a probe keeps failing, or an SLI crosses a line, for ``for``."""

    name: str | None = None
    probe: str | None = Field(default=None, min_length=1)
    sli: str | None = Field(default=None, min_length=1)
    threshold: ThresholdField | None = Field(
        default=None,
        description='SLI only: the condition that trips, e.g. "> 0.2" '
        "(default: the SLI's own threshold is breached).",
    )
    window: Duration = Field(
        default=1.0, ge=1.0, description="SLI only: each point covers this much of the run."
    )
    for_: Duration = Field(
        default=0.0, alias="for", ge=0, description="How long the condition must hold."
    )

    @model_validator(mode="after")
    def _one_subject(self) -> StopCondition:
        if (self.probe is None) == (self.sli is None):
            raise ValueError("a stop condition needs exactly one of: probe, sli")
        if self.probe is not None and self.threshold is not None:
            raise ValueError("threshold applies to an sli stop condition, not a probe")
        return self

    @property
    def subject(self) -> str:
        return self.probe or self.sli or ""


class Safety(Model):
    max_targets: LimitField | None = Field(
        default=None, description="Cap per step: a count (3) or a share of candidates (50%)."
    )
    lease_ttl: Duration = Field(
        default=10.0,
        gt=0,
        description="Extra time a fault may outlive its step if the controller dies.",
    )


class ExperimentSpec(Model):
    targets: dict[str, TargetSpec] = Field(min_length=1)
    steady_state: SteadyState
    load: LoadSpec | None = None
    phases: Phases = Field(default_factory=Phases)
    method: tuple[Step, ...] = Field(min_length=1)
    stop_conditions: tuple[StopCondition, ...] = ()
    safety: Safety = Field(default_factory=Safety)


class Experiment(Model):
    api_version: Literal["chaos/v1"]
    kind: Literal["Experiment"]
    metadata: Metadata
    spec: ExperimentSpec

    def fault_steps(self) -> list[tuple[str, FaultStep]]:
        """Every fault step with its field path, in method order."""
        found: list[tuple[str, FaultStep]] = []
        for index, step in enumerate(self.spec.method):
            if isinstance(step, FaultStep):
                found.append((f"spec.method[{index}]", step))
            elif isinstance(step, ParallelStep):
                for inner, fault in enumerate(step.parallel):
                    found.append((f"spec.method[{index}].parallel[{inner}]", fault))
        return found
