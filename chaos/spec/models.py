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
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)
from pydantic.alias_generators import to_camel

from chaos.spec.units import Duration, LimitField, ModeField, ThresholdField, parse_mode

API_VERSION = "chaos/v1"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
URL_PATTERN = r"^https?://"


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
    status: tuple[int, ...] = Field(default=(200,), description="Accepted status codes")
    timeout: Duration = 2.0
    latency: ThresholdField | None = Field(
        default=None, description='Latency threshold in ms, e.g. "< 500"'
    )
    body: BodyMatch | None = None
    json_match: tuple[JsonMatch, ...] = Field(default=(), alias="json")
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, int) else value

    @field_validator("json_match", mode="before")
    @classmethod
    def _json_one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class ProbeSpec(Model):
    name: str = Field(pattern=NAME_PATTERN)
    http: HttpProbeSpec


class SteadyState(Model):
    probes: tuple[ProbeSpec, ...] = Field(min_length=1)
    interval: Duration = Field(default=1.0, gt=0)
    min_pass_ratio: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Share of a probe's samples that must pass in baseline and during faults.",
    )


class Phases(Model):
    baseline: Duration = Field(default=5.0, ge=0)
    recovery: Duration = Field(default=30.0, ge=0)
    recovery_samples: int = Field(
        default=3, ge=1, description="Consecutive passing samples that count as recovered."
    )
    tolerate_during_fault: tuple[str, ...] = Field(
        default=(), description="Probes allowed to fail while faults are active."
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
    name: str | None = None
    probe: str = Field(min_length=1)
    for_: Duration = Field(
        default=0.0, alias="for", ge=0, description="How long the probe must keep failing."
    )


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
