"""Load models: the Locust load of an experiment, from a locustfile or built-in tasks."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from chaos.spec.base import URL_PATTERN, Codes, Model
from chaos.spec.limits import MAX_PROBES, MAX_SPAWN_RATE, MAX_TASK_WEIGHT, MAX_USERS, MAX_WORKERS
from chaos.spec.units import Duration


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
    weight: int = Field(default=1, ge=1, le=MAX_TASK_WEIGHT)
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
        default=(),
        max_length=MAX_PROBES,
        description="Built-in HTTP tasks, instead of a locustfile.",
    )
    users: int = Field(default=10, ge=1, le=MAX_USERS)
    spawn_rate: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SPAWN_RATE,
        description="Users started per second (default: all at once).",
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
        default=0,
        ge=0,
        le=MAX_WORKERS,
        description="Local Locust workers under a Locust master (0: one process).",
    )
    remote_workers: int = Field(
        default=0,
        ge=0,
        le=MAX_WORKERS,
        description="Workers started elsewhere that attach to the master.",
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
