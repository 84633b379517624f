"""Adding, listing, pausing, resuming and removing schedules: what ``chaos schedule`` and
the controller service's API call. They write the schedule table only; the leading
scheduler picks changes up within a poll (a second), wherever it runs.

Adding validates everything first, so a schedule never exists that could not fire:
the experiment file (every problem, located: ``SpecError``), the cron expression or
interval (the bad field named), the time zone and each blackout window (``UsageError``).
The file is stored by absolute path with the hash of its text; each firing reads and
validates it again and records the hash it ran, noting when the file changed. The file
must be a regular file under the size cap (:func:`read_schedule_file`, also what each
firing reads through). Firings run on the controller, which gives experiments no
variables: ``${CHAOS_VAR_X:-default}`` takes its default, ``${CHAOS_VAR_X}`` alone is
refused here, at ``add``, rather than failing at every firing.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chaos.errors import NotFoundError, SpecError, SpecIssue, UsageError
from chaos.faults import CATALOG
from chaos.schedule.blackout import parse_blackout
from chaos.schedule.triggers import build_trigger, next_fire, stored_trigger
from chaos.spec.base import NAME_PATTERN
from chaos.spec.files import read_user_file
from chaos.spec.loader import decode, load_text
from chaos.spec.models import Experiment
from chaos.store.repository import RunStore
from chaos.store.schedules import (
    FiringRecord,
    SchedulePolicy,
    ScheduleRecord,
    ScheduleStore,
)


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as ``list`` shows it."""

    schedule: ScheduleRecord
    next_fire: datetime | None  # None while paused
    last: FiringRecord | None


def add_schedule(
    store: RunStore,
    *,
    file: Path,
    cron: str | None = None,
    every: str | None = None,
    name: str | None = None,
    timezone: str = "UTC",
    blackouts: Iterable[str] = (),
    policy: SchedulePolicy = SchedulePolicy.SKIP,
) -> ScheduleRecord:
    raw = read_schedule_file(file)
    path = file.expanduser().resolve()
    experiment = _validate(raw, file=str(file))
    trigger = stored_trigger(cron=cron, every=every, timezone=timezone)
    windows = tuple(parse_blackout(text, timezone=timezone).text for text in blackouts)
    name = name or experiment.metadata.name
    if not re.match(NAME_PATTERN, name):
        raise UsageError(f"schedule name {name!r}: use lower-case letters, digits and dashes")
    now = time.time()
    return ScheduleStore(store).add(
        ScheduleRecord(
            name=name,
            trigger=trigger,
            timezone=timezone,
            file=str(path),
            file_hash=hashlib.sha256(raw).hexdigest(),
            experiment=experiment.metadata.name,
            blackouts=windows,
            policy=policy,
            paused=False,
            created_at=now,
            updated_at=now,
            active_since=now,
        )
    )


def list_schedules(store: RunStore) -> list[ScheduleView]:
    schedules = ScheduleStore(store)
    last = schedules.last_firings()
    now = datetime.now(UTC)
    views = []
    for schedule in schedules.all():
        upcoming = None
        if not schedule.paused:
            trigger = build_trigger(
                schedule.trigger, timezone=schedule.timezone, start=schedule.active_since
            )
            upcoming = next_fire(trigger, now)
        views.append(ScheduleView(schedule, upcoming, last.get(schedule.name)))
    return views


def pause_schedule(store: RunStore, name: str) -> ScheduleRecord:
    return ScheduleStore(store).set_paused(name, paused=True)


def resume_schedule(store: RunStore, name: str) -> ScheduleRecord:
    """Resume from now on: firings that fell in the pause are not run, nor counted missed."""
    return ScheduleStore(store).set_paused(name, paused=False)


def remove_schedule(store: RunStore, name: str) -> ScheduleRecord:
    """Remove a schedule (its firings stay, as history); a run it started keeps running."""
    return ScheduleStore(store).remove(name)


def schedule_firings(store: RunStore, name: str, *, limit: int = 20) -> list[FiringRecord]:
    """A schedule's firings, newest first; also works for a removed schedule's history."""
    schedules = ScheduleStore(store)
    found = schedules.firings(name, limit=limit)
    if not found and schedules.get(name) is None:
        raise NotFoundError(f"no schedule {name!r} (chaos schedule list shows them)")
    return found


def _validate(raw: bytes, *, file: str) -> Experiment:
    """As each firing will: with no variables (the controller reads no environment)."""
    try:
        return load_text(decode(raw, file=file), file=file, catalog=CATALOG, variables={})
    except SpecError as exc:
        if any("is not set and has no default" in issue.message for issue in exc.issues):
            note = (
                "schedules run on the controller, which gives experiments no variables: "
                "give each ${CHAOS_VAR_...} here a default (${CHAOS_VAR_X:-value})"
            )
            raise SpecError([*exc.issues, SpecIssue(file, 1, 1, "", note)]) from None
        raise


def read_schedule_file(file: Path | str) -> bytes:
    """A schedule's experiment file: a regular file under the size cap, else a located
    ``SpecError`` (``/dev/zero``, a FIFO, a directory are refused at once)."""
    try:
        path = Path(file).expanduser()
    except RuntimeError:  # "~nobody": no such user
        path = Path(file)
    return read_user_file(path)
