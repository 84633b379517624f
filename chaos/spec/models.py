"""Experiment format v1: frozen, typed models (reference: docs/experiment-reference.md).

Field names are snake_case in Python and camelCase in YAML (``steadyState``,
``stopConditions``), as in Kubernetes manifests. Unknown fields are errors.
This module holds the experiment's skeleton; shared bits live in
:mod:`chaos.spec.base`, the steady state in :mod:`chaos.spec.steady` and the load
in :mod:`chaos.spec.load`. Fault parameters are validated against the fault's own
model by the loader (see :mod:`chaos.spec.loader`), because the fault catalogue
lives in a layer above this one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, Tag, model_validator

from chaos.spec.base import NAME_PATTERN, FaultParams, Model
from chaos.spec.limits import (
    MAX_LEASE_TTL_S,
    MAX_PARALLEL,
    MAX_PROBES,
    MAX_RECOVERY_SAMPLES,
    MAX_STEPS,
    MAX_TARGETS,
)
from chaos.spec.load import LoadSpec
from chaos.spec.steady import SteadyState
from chaos.spec.units import Duration, LimitField, ModeField, ThresholdField, parse_mode
from chaos.spec.variables import redact, restore_templates

API_VERSION = "chaos/v1"


class Metadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="Lower-case name, digits and dashes.")
    description: str = ""
    tags: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()


class TargetKind(StrEnum):
    """What a target is; each kind has one backend (``chaos.targets``)."""

    PROCESS = "process"  # a process of a built-in lab on this host
    CONTAINER = "container"  # a Docker container on one of spec.docker.hosts
    POD = "pod"  # a Kubernetes pod
    NODE = "node"  # a Kubernetes node


class Selector(Model):
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Every label must match (lab processes: CHAOS_LABELS; containers: Docker "
        "labels; pods and nodes: Kubernetes labels).",
    )
    names: tuple[str, ...] = Field(
        default=(), description="Container, pod or node names; any of them matches."
    )
    lab: str | None = Field(
        default=None,
        description="process: lab id the processes must belong to; defaults to the run's --lab.",
    )
    namespace: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="pod: its namespace."
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="pod, node: Kubernetes field selectors, e.g. status.phase: Running.",
    )
    node: str | None = Field(default=None, description="pod: only pods scheduled on this node.")
    hosts: tuple[str, ...] = Field(
        default=(), description="container: only these spec.docker.hosts (default: every host)."
    )
    container: str | None = Field(
        default=None,
        description="pod: the container whose namespaces node faults enter (default: the first).",
    )


_SELECTOR_FIELDS: dict[TargetKind, frozenset[str]] = {
    TargetKind.PROCESS: frozenset({"labels", "lab"}),
    TargetKind.CONTAINER: frozenset({"labels", "names", "hosts"}),
    TargetKind.POD: frozenset({"labels", "names", "namespace", "fields", "node", "container"}),
    TargetKind.NODE: frozenset({"labels", "names", "fields"}),
}


class TargetSpec(Model):
    kind: TargetKind = TargetKind.PROCESS
    selector: Selector
    mode: ModeField = Field(default_factory=lambda: parse_mode("all"))

    @model_validator(mode="after")
    def _selector_fits_kind(self) -> TargetSpec:
        given = {name for name in self.selector.model_fields_set if getattr(self.selector, name)}
        stray = sorted(given - _SELECTOR_FIELDS[self.kind])
        if stray:
            raise ValueError(f"selector field(s) {', '.join(stray)} do not apply to a {self.kind}")
        if self.kind is TargetKind.PROCESS and not self.selector.labels:
            raise ValueError("a process selector needs labels")
        if self.kind is TargetKind.POD and not self.selector.namespace:
            raise ValueError("a pod selector needs a namespace")
        if not (self.selector.labels or self.selector.names or self.selector.fields):
            raise ValueError("the selector needs labels, names or fields")
        return self


class DockerHost(Model):
    name: str = Field(pattern=NAME_PATTERN, description="Name used by selector.hosts.")
    url: str | None = Field(
        default=None,
        description="Docker API URL (unix:///var/run/docker.sock, tcp://host:2376); "
        "default: $DOCKER_HOST or the local socket.",
    )
    agent: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="URL of the chaos agent on this host, for network, disk and stress faults.",
    )


class DockerSpec(Model):
    hosts: tuple[DockerHost, ...] = Field(
        default=(DockerHost(name="local"),),
        min_length=1,
        description="Docker hosts whose containers may be targeted (default: the local one).",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> DockerSpec:
        names = [host.name for host in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError("docker host names must be unique")
        return self


class Phases(Model):
    baseline: Duration = Field(default=5.0, ge=0)
    recovery: Duration = Field(default=30.0, ge=0)
    recovery_samples: int = Field(
        default=3,
        ge=1,
        le=MAX_RECOVERY_SAMPLES,
        description="Consecutive passing samples that count as recovered.",
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
    parallel: tuple[Annotated[FaultStep, Tag("FaultStep")], ...] = Field(
        min_length=1, max_length=MAX_PARALLEL
    )


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
        le=MAX_LEASE_TTL_S,
        description="Extra time a fault may outlive its step if the controller dies.",
    )
    allow_protected_namespaces: tuple[str, ...] = Field(
        default=(),
        description="Protected namespaces (kube-system, kube-public, kube-node-lease, the "
        "platform's own) this experiment may target, each named explicitly.",
    )
    allow_host_network: bool = Field(
        default=False,
        description="Allow targeting hostNetwork pods (their network faults hit the whole node).",
    )


class ExperimentSpec(Model):
    targets: dict[str, TargetSpec] = Field(min_length=1, max_length=MAX_TARGETS)
    steady_state: SteadyState
    load: LoadSpec | None = None
    phases: Phases = Field(default_factory=Phases)
    method: tuple[Step, ...] = Field(min_length=1, max_length=MAX_STEPS)
    stop_conditions: tuple[StopCondition, ...] = Field(default=(), max_length=MAX_PROBES)
    safety: Safety = Field(default_factory=Safety)
    docker: DockerSpec = Field(default_factory=DockerSpec)

    @model_validator(mode="after")
    def _known_docker_hosts(self) -> ExperimentSpec:
        known = {host.name for host in self.docker.hosts}
        for name, target in self.targets.items():
            unknown = sorted(set(target.selector.hosts) - known)
            if unknown:
                raise ValueError(
                    f"target {name}: selector.hosts names unknown docker host(s) "
                    f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
                )
        return self


class Experiment(Model):
    api_version: Literal["chaos/v1"]
    kind: Literal["Experiment"]
    metadata: Metadata
    spec: ExperimentSpec
    # what ${NAME} put in: the values are secrets (never stored, logged or echoed)
    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)
    _templates: dict[str, str] = PrivateAttr(default_factory=dict)  # field path -> "${...}"

    def remember_interpolation(self, *, secrets: dict[str, str], templates: dict[str, str]) -> None:
        """Called by the loader: which values came from variables, and where."""
        self._secrets = dict(secrets)
        self._templates = dict(templates)

    @property
    def secrets(self) -> frozenset[str]:
        """Every value interpolated from a variable: scrub these from anything written."""
        return frozenset(value for value in self._secrets.values() if value)

    def redact(self, text: str) -> str:
        """``text`` with each interpolated value replaced by its ``${NAME}``."""
        return redact(text, self._secrets)

    def redacted(self) -> dict[str, Any]:
        """The experiment as JSON-able data (camelCase, as written) with each interpolated
        field back in its ``${NAME}`` form: what may be stored in events and reports."""
        data = self.model_dump(mode="json", by_alias=True)
        return restore_templates(data, templates=self._templates, secrets=self._secrets)

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
