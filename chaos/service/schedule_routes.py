"""The controller API's schedules: the same operations as ``chaos schedule``, on the same
table, so a schedule added either way is fired by whichever controller leads."""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from pathlib import Path
from typing import Any

from chaos.schedule import manage
from chaos.store.repository import RunStore
from chaos.store.schedules import SchedulePolicy

Answer = tuple[HTTPStatus, Any]


def _plain(record: Any) -> dict[str, Any]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in dataclasses.asdict(record).items()
    }


def list_schedules(store: RunStore) -> Answer:
    views = manage.list_schedules(store)
    return HTTPStatus.OK, {
        "schedules": [
            {
                **_plain(view.schedule),
                "next_fire": view.next_fire.isoformat() if view.next_fire else None,
                "last": _plain(view.last) if view.last else None,
            }
            for view in views
        ]
    }


def add_schedule(store: RunStore, body: dict[str, Any]) -> Answer:
    """``{"file": "/etc/chaos/experiments/x.yaml", "cron": "*/30 * * * *" | "every": "10m",
    "name", "timezone", "blackouts": [...], "policy": "skip"|"queue"}`` → 201. The file is a
    path on the controller's host (the chart mounts the experiments ConfigMap)."""
    file = body.get("file")
    if not isinstance(file, str) or not file:
        return HTTPStatus.BAD_REQUEST, {
            "error": "file must be the experiment's path on the controller"
        }
    try:
        policy = SchedulePolicy(body.get("policy") or "skip")
    except ValueError:
        return HTTPStatus.BAD_REQUEST, {"error": "policy must be skip or queue"}
    blackouts = body.get("blackouts") or []
    if not isinstance(blackouts, list) or not all(isinstance(b, str) for b in blackouts):
        return HTTPStatus.BAD_REQUEST, {"error": "blackouts must be a list of strings"}
    record = manage.add_schedule(
        store,
        file=Path(file),
        cron=body.get("cron"),
        every=body.get("every"),
        name=body.get("name"),
        timezone=str(body.get("timezone") or "UTC"),
        blackouts=blackouts,
        policy=policy,
    )
    return HTTPStatus.CREATED, _plain(record)


def schedule_action(store: RunStore, method: str, argument: str) -> Answer:
    """GET NAME (its firings), POST NAME/pause, POST NAME/resume, DELETE NAME."""
    name, _, action = argument.partition("/")  # an unknown name raises NotFoundError: 404
    if method == "GET" and not action:
        firings = manage.schedule_firings(store, name)
        return HTTPStatus.OK, {"name": name, "firings": [_plain(f) for f in firings]}
    if method == "POST" and action in ("pause", "resume"):
        change = manage.pause_schedule if action == "pause" else manage.resume_schedule
        return HTTPStatus.OK, _plain(change(store, name))
    if method == "DELETE" and not action:
        return HTTPStatus.OK, _plain(manage.remove_schedule(store, name))
    return HTTPStatus.NOT_FOUND, {"error": f"no route {method} /v1/schedules/{argument}"}
