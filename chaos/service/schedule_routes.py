"""The controller API's schedules: the same operations as ``chaos schedule``, on the same
table, so a schedule added either way is fired by whichever controller leads."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi import Path as PathParam

from chaos.errors import UsageError
from chaos.faults import CATALOG
from chaos.runner.launch import refuse_command_probes
from chaos.schedule import manage
from chaos.service.errors import ERRORS
from chaos.service.models import AddSchedule, Firings, ScheduleList
from chaos.spec.loader import load_file
from chaos.store.repository import RunStore
from chaos.store.schedules import SchedulePolicy

NAME = Annotated[str, PathParam(max_length=128, pattern=r"^[a-z0-9][a-z0-9-]*$")]


def _plain(record: Any) -> dict[str, Any]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in dataclasses.asdict(record).items()
    }


def register(app: FastAPI, store: RunStore, *, command_probes: bool = True) -> None:
    """GET/POST /v1/schedules, GET/DELETE /v1/schedules/NAME, POST NAME/pause|resume."""

    @app.get("/v1/schedules", responses={200: {"model": ScheduleList}, **ERRORS})
    def list_schedules() -> dict[str, Any]:
        return {
            "schedules": [
                {
                    **_plain(view.schedule),
                    "next_fire": view.next_fire.isoformat() if view.next_fire else None,
                    "last": _plain(view.last) if view.last else None,
                }
                for view in manage.list_schedules(store)
            ]
        }

    @app.post("/v1/schedules", status_code=201, responses=ERRORS)
    def add_schedule(body: AddSchedule) -> dict[str, Any]:
        """The file is a path on the controller's host (the chart mounts the experiments
        ConfigMap); an invalid file, cron, window or name is 400 naming it."""
        record = manage.add_schedule(
            store,
            file=Path(body.file),
            cron=body.cron,
            every=body.every,
            name=body.name,
            timezone=body.timezone,
            blackouts=body.blackouts,
            policy=SchedulePolicy(body.policy),
        )
        if not command_probes:
            _refuse_command_probes(store, record.name, record.file)
        return _plain(record)

    @app.get("/v1/schedules/{name}", responses={200: {"model": Firings}, **ERRORS})
    def firings(name: NAME) -> dict[str, Any]:
        found = manage.schedule_firings(store, name)  # an unknown name: NotFoundError, 404
        return {"name": name, "firings": [_plain(firing) for firing in found]}

    @app.post("/v1/schedules/{name}/pause", responses=ERRORS)
    def pause(name: NAME) -> dict[str, Any]:
        return _plain(manage.pause_schedule(store, name))

    @app.post("/v1/schedules/{name}/resume", responses=ERRORS)
    def resume(name: NAME) -> dict[str, Any]:
        return _plain(manage.resume_schedule(store, name))

    @app.delete("/v1/schedules/{name}", responses=ERRORS)
    def remove(name: NAME) -> dict[str, Any]:
        return _plain(manage.remove_schedule(store, name))


def _refuse_command_probes(store: RunStore, name: str, file: str) -> None:
    """A schedule whose experiment has a command probe is taken back out, refused (each
    firing would be refused too: the run settings forbid them)."""
    try:
        refuse_command_probes(load_file(file, catalog=CATALOG))
    except UsageError:
        manage.remove_schedule(store, name)
        raise
