"""Typed request and answer bodies of the controller API (they make its OpenAPI document).

Every string is bounded and free of control characters (a NUL byte in a name, a reason or
a path is refused with the field named); unknown fields are refused, not ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_NAME = 128  # schedule names, sources, reasons
MAX_PATH = 4096  # a path on the controller (PATH_MAX)
MAX_EXPERIMENT = 1 << 20  # the YAML text (the body cap is the same)
MAX_BLACKOUTS = 64


def _printable(value: str) -> str:
    if any((ord(char) < 32 and char not in "\t\n\r") or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("must be one line")
    return _printable(value)


Text = Annotated[str, AfterValidator(_printable)]
Line = Annotated[str, AfterValidator(_one_line)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SubmitRun(Request):
    experiment: Annotated[Text, Field(min_length=1, max_length=MAX_EXPERIMENT)] = Field(
        description="The experiment file's YAML text."
    )
    source: Annotated[Line, Field(min_length=1, max_length=MAX_NAME)] = Field(
        default="submitted.yaml", description="A name for the file, used in located errors."
    )


class HaltRun(Request):
    reason: Annotated[Line, Field(max_length=MAX_NAME)] = Field(
        default="halted through the controller API", description="Recorded with the halt."
    )


class AddSchedule(Request):
    file: Annotated[Line, Field(min_length=1, max_length=MAX_PATH)] = Field(
        description="The experiment's path on the controller's host."
    )
    cron: Annotated[Line, Field(min_length=1, max_length=MAX_NAME)] | None = None
    every: Annotated[Line, Field(min_length=1, max_length=MAX_NAME)] | None = None
    name: Annotated[Line, Field(min_length=1, max_length=MAX_NAME)] | None = None
    timezone: Annotated[Line, Field(min_length=1, max_length=MAX_NAME)] = "UTC"
    blackouts: Annotated[
        list[Annotated[Line, Field(min_length=1, max_length=MAX_NAME)]],
        Field(max_length=MAX_BLACKOUTS),
    ] = []
    policy: Annotated[str, Field(pattern="^(skip|queue)$")] = "skip"


class Error(BaseModel):
    """Every refusal: what is wrong; ``issues`` lists each problem where there are several."""

    error: str
    issues: list[str] | None = None


class Submitted(BaseModel):
    run_id: str
    url: str


class Halted(BaseModel):
    run_id: str
    halt: str


class RunList(BaseModel):
    runs: list[dict[str, Any]]


class RunDetailBody(BaseModel):
    run: dict[str, Any]
    events: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    sli_points: list[dict[str, Any]]


class ScheduleList(BaseModel):
    schedules: list[dict[str, Any]]


class Firings(BaseModel):
    name: str
    firings: list[dict[str, Any]]
