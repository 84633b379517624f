"""Planning: selectors → concrete targets, each fault paired with its revert, blast radius checked.

Planning touches nothing: it only reads what exists. Every error here is raised
before anything is injected.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from chaos.errors import ChaosError, EmptySelection, PlanError
from chaos.faults.base import FaultType
from chaos.plan import safety
from chaos.spec.base import FaultParams
from chaos.spec.models import Experiment, FaultStep, ParallelStep, PauseStep
from chaos.targets.base import Scope, Target, TargetBackend


@dataclass(frozen=True)
class PlannedFault:
    """One fault on one target; ``key`` is shared by every target of the same step,
    ``fault_id`` is unique to this fault on this target."""

    fault_id: str
    key: str
    step_path: str
    label: str
    fault: FaultType
    params: FaultParams
    target_name: str
    target: Target
    peers: Mapping[str, tuple[Target, ...]]
    duration: float


class StepKind(StrEnum):
    FAULTS = "faults"
    PAUSE = "pause"


@dataclass(frozen=True)
class PlannedStep:
    kind: StepKind
    path: str
    faults: tuple[PlannedFault, ...] = ()
    pause: float = 0.0

    @property
    def hold(self) -> float:
        """How long this step lasts: the longest fault duration, or the pause."""
        if self.kind is StepKind.PAUSE:
            return self.pause
        return max((fault.duration for fault in self.faults), default=0.0)


@dataclass(frozen=True)
class Plan:
    experiment: Experiment
    run_key: str
    steps: tuple[PlannedStep, ...]
    selected: Mapping[str, tuple[Target, ...]]
    candidates: Mapping[str, int] = field(default_factory=dict)


def make_plan(
    experiment: Experiment,
    *,
    catalog: Mapping[str, FaultType],
    backends: Mapping[str, TargetBackend],
    scope: Scope,
    run_key: str,
    rng: random.Random | None = None,
) -> Plan:
    """Resolve every target, apply modes and the blast-radius cap, pair faults with reverts."""
    rng = rng or random.Random()
    name = experiment.metadata.name
    selected: dict[str, tuple[Target, ...]] = {}
    candidates: dict[str, int] = {}
    listing: dict[str, list[Target]] = {}
    for target_name, spec in experiment.spec.targets.items():
        backend = backends.get(spec.kind)
        if backend is None:
            raise PlanError(
                f"no backend for target kind {spec.kind}", experiment=name, target=target_name
            )
        safety.check_namespace(experiment, target_name, spec, scope)
        try:
            listed = backend.candidates(selector=spec.selector, scope=scope)
        except ChaosError as exc:
            if exc.target is None:
                exc.target = target_name
            exc.experiment = exc.experiment or name
            raise
        found = sorted(listed, key=lambda t: t.uid)
        if not found:
            raise EmptySelection(
                safety.describe_selector(spec.selector, spec.kind, scope),
                experiment=name,
                target=target_name,
            )
        count = spec.mode.pick_count(len(found))
        chosen = tuple(sorted(rng.sample(found, count), key=lambda t: t.uid))
        cap = experiment.spec.safety.max_targets
        if cap is not None and not cap.allows(len(chosen), len(found)):
            raise PlanError(
                f"blast radius: {len(chosen)} of {len(found)} targets "
                f"exceeds safety.maxTargets {cap}",
                experiment=name,
                target=target_name,
            )
        selected[target_name] = chosen
        candidates[target_name] = len(found)
        listing[target_name] = found
    safety.check_host_network(experiment, catalog=catalog, candidates=listing)
    steps = tuple(
        _plan_step(
            experiment, index=index, step=step, catalog=catalog, selected=selected, run_key=run_key
        )
        for index, step in enumerate(experiment.spec.method)
    )
    return Plan(experiment, run_key, steps, selected, candidates)


def _plan_step(
    experiment: Experiment,
    *,
    index: int,
    step: FaultStep | PauseStep | ParallelStep,
    catalog: Mapping[str, FaultType],
    selected: Mapping[str, tuple[Target, ...]],
    run_key: str,
) -> PlannedStep:
    path = f"spec.method[{index}]"
    if isinstance(step, PauseStep):
        return PlannedStep(kind=StepKind.PAUSE, path=path, pause=step.pause)
    members = [step] if isinstance(step, FaultStep) else list(step.parallel)
    faults: list[PlannedFault] = []
    for inner, member in enumerate(members):
        member_path = path if isinstance(step, FaultStep) else f"{path}.parallel[{inner}]"
        key = f"{run_key}-s{index}" + ("" if isinstance(step, FaultStep) else f"p{inner}")
        faults.extend(
            _plan_fault(
                experiment,
                step=member,
                path=member_path,
                key=key,
                catalog=catalog,
                selected=selected,
            )
        )
    return PlannedStep(kind=StepKind.FAULTS, path=path, faults=tuple(faults))


def _plan_fault(
    experiment: Experiment,
    *,
    step: FaultStep,
    path: str,
    key: str,
    catalog: Mapping[str, FaultType],
    selected: Mapping[str, tuple[Target, ...]],
) -> list[PlannedFault]:
    fault = catalog[step.fault]
    targets = selected[step.target]
    for target in targets:
        if target.kind not in fault.target_kinds:
            raise PlanError(
                f"fault {fault.name} cannot act on a {target.kind} target",
                experiment=experiment.metadata.name,
                step=path,
                target=step.target,
            )
    peers = {
        field_name: tuple(peer for name in names for peer in selected[name])
        for field_name, names in step.params.target_refs().items()
    }
    label = step.name or f"{fault.name} on {step.target}"
    return [
        PlannedFault(
            fault_id=f"{key}-t{index}",
            key=key,
            step_path=path,
            label=label,
            fault=fault,
            params=step.params,
            target_name=step.target,
            target=target,
            peers=peers,
            duration=step.duration or 0.0,
        )
        for index, target in enumerate(targets)
    ]
