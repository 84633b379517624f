"""Game-day plan format v1 (``kind: GameDay``): frozen models (reference: docs/gamedays.md).

A game day is a team running several experiments one after another, with holds
where a person decides whether to go on. The plan names experiment files (relative
to the plan); the loader (:func:`chaos.spec.loader.load_gameday_file`) validates
the plan *and* every experiment it names before anything runs, so a typo in the
third experiment is found before the first one injects a fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from chaos.spec.base import NAME_PATTERN, Model
from chaos.spec.limits import MAX_STEPS
from chaos.spec.models import Experiment

GAMEDAY_KIND = "GameDay"


class GameDayMetadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="Lower-case name, digits and dashes.")
    description: str = ""
    owners: tuple[str, ...] = Field(default=(), description="Teams or people running it.")
    tags: tuple[str, ...] = ()


class ExperimentStep(Model):
    """Run one experiment file, exactly as ``chaos run`` would."""

    experiment: str = Field(min_length=1, description="Experiment file, relative to the plan.")
    name: str | None = Field(default=None, description="Shown instead of the experiment's name.")
    notes: str = Field(default="", description="Shown before the step and kept in the summary.")
    continue_on_failure: bool = Field(
        default=False,
        description="Go on when this experiment fails or a stop condition aborts it "
        "(an operator halt always ends the game day).",
    )


class HoldStep(Model):
    """Wait for an operator's go (Enter) or stop (``stop``) before going on."""

    hold: str = Field(min_length=1, description="What the operator should check first.")
    name: str | None = None


def _step_kind(value: Any) -> str | None:
    data = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    for key, tag in (("experiment", "ExperimentStep"), ("hold", "HoldStep")):
        if key in data:
            return tag
    return None


GameDayStep = Annotated[
    Annotated[ExperimentStep, Tag("ExperimentStep")] | Annotated[HoldStep, Tag("HoldStep")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a game-day step needs one of: experiment, hold",
    ),
]
GAMEDAY_STEP_TAGS = frozenset({"ExperimentStep", "HoldStep"})


class GameDaySpec(Model):
    notes: str = Field(default="", description="Shown at the start and kept with the game day.")
    steps: tuple[GameDayStep, ...] = Field(min_length=1, max_length=MAX_STEPS)


class GameDay(Model):
    api_version: Literal["chaos/v1"]
    kind: Literal["GameDay"]
    metadata: GameDayMetadata
    spec: GameDaySpec


@dataclass(frozen=True)
class PlannedStep:
    """One step of a loaded plan; an experiment step carries its validated experiment."""

    index: int
    step: ExperimentStep | HoldStep
    experiment: Experiment | None = None
    path: Path | None = None  # the experiment file as resolved against the plan's directory

    @property
    def is_hold(self) -> bool:
        return isinstance(self.step, HoldStep)

    @property
    def label(self) -> str:
        if isinstance(self.step, HoldStep):
            return self.step.name or "hold"
        assert self.experiment is not None
        return self.step.name or self.experiment.metadata.name


@dataclass(frozen=True)
class GameDayPlan:
    """A validated plan and every experiment it runs: nothing left to check at run time."""

    gameday: GameDay
    source: str
    steps: tuple[PlannedStep, ...]

    @property
    def name(self) -> str:
        return self.gameday.metadata.name

    @property
    def holds(self) -> tuple[PlannedStep, ...]:
        return tuple(step for step in self.steps if step.is_hold)

    @property
    def experiments(self) -> tuple[PlannedStep, ...]:
        return tuple(step for step in self.steps if not step.is_hold)
