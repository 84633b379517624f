"""``chaos schedule add|list|pause|resume|remove|history``: schedules in the run store.

The controller service (``chaos controller serve``) fires them; these commands only
edit the schedule table, and the leading controller picks changes up within a second.
Exit 2 for an invalid file (file:line:col, every problem), a malformed cron expression
(the field named), and an unknown schedule name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from chaos.cli.settings import open_store
from chaos.errors import ChaosError, ExitCode, SpecError

if TYPE_CHECKING:
    from chaos.schedule.manage import ScheduleView
    from chaos.store.repository import RunStore
    from chaos.store.schedules import FiringRecord

T = TypeVar("T")

app = typer.Typer(
    help="Run experiments on a schedule (fired by the controller service).", no_args_is_help=True
)

DB_OPTION = typer.Option(None, "--db", help="SQLAlchemy URL (default: $CHAOS_DB or SQLite).")


@app.command("add")
def add(
    file: Path = typer.Argument(..., help="Experiment file (YAML).", show_default=False),
    cron: str | None = typer.Option(
        None,
        "--cron",
        help='Crontab expression: 5 fields ("*/5 * * * *") or 6 with seconds first '
        '("*/30 * * * * *"); day of week 0 or 7 = Sunday.',
    ),
    every: str | None = typer.Option(
        None, "--every", help="Fixed interval instead of --cron: 30s, 5m, 1h (at least 1s)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Schedule name (default: the experiment's name)."
    ),
    timezone: str = typer.Option(
        "UTC", "--timezone", help="IANA time zone of --cron and --blackout (e.g. Europe/Paris)."
    ),
    blackout: list[str] = typer.Option(
        [],
        "--blackout",
        help='Never fire inside this window (repeatable): "CRON LENGTH" (e.g. "0 22 * * * 8h") '
        'or "START..END" (ISO 8601).',
    ),
    policy: str = typer.Option(
        "skip",
        "--policy",
        help="When the targets overlap a run in progress: skip (refuse this firing) or queue "
        "(wait for it to end, bounded).",
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Schedule an experiment; the file is validated now and again at every firing."""
    from chaos.schedule.manage import add_schedule
    from chaos.store.schedules import SchedulePolicy

    if policy not in {p.value for p in SchedulePolicy}:
        _fail(f"--policy {policy!r}: use skip or queue")
    try:
        record = add_schedule(
            _store(db),
            file=file,
            cron=cron,
            every=every,
            name=name,
            timezone=timezone,
            blackouts=blackout,
            policy=SchedulePolicy(policy),
        )
    except SpecError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(int(ExitCode.INVALID)) from None
    except ChaosError as exc:
        _fail(str(exc), exc.exit_code)
    typer.echo(f"schedule {record.name}: {record.trigger} ({record.timezone}), {record.file}")


@app.command("list")
def list_(db: str | None = DB_OPTION) -> None:
    """Schedules with their next fire time, whether paused, and their last outcome."""
    from rich.console import Console

    from chaos.schedule.manage import list_schedules

    views = _call(lambda: list_schedules(_store(db, reading=True)))
    if not views:
        typer.echo("no schedules (chaos schedule add --cron ... FILE)")
        return
    Console().print(_table(views))


@app.command("pause")
def pause(name: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Stop firing a schedule until it is resumed (firings in between are not run)."""
    from chaos.schedule.manage import pause_schedule

    _call(lambda: pause_schedule(_store(db), name))
    typer.echo(f"schedule {name}: paused")


@app.command("resume")
def resume(name: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Fire a paused schedule again, from its next fire time on."""
    from chaos.schedule.manage import resume_schedule

    _call(lambda: resume_schedule(_store(db), name))
    typer.echo(f"schedule {name}: resumed")


@app.command("remove")
def remove(name: str = typer.Argument(...), db: str | None = DB_OPTION) -> None:
    """Remove a schedule (its firings stay as history; a run it started keeps running)."""
    from chaos.schedule.manage import remove_schedule

    _call(lambda: remove_schedule(_store(db), name))
    typer.echo(f"schedule {name}: removed")


@app.command("history")
def history(
    name: str = typer.Argument(...),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many firings, newest first."),
    db: str | None = DB_OPTION,
) -> None:
    """A schedule's firings: the runs they started, and the ones skipped, refused or missed."""
    from chaos.schedule.manage import schedule_firings

    for firing in _call(lambda: schedule_firings(_store(db, reading=True), name, limit=limit)):
        typer.echo(_firing_line(firing))


# ---------------------------------------------------------------- helpers


def _store(db: str | None, *, reading: bool = False) -> RunStore:
    """``reading``: a store that does not exist is an error, not made empty on the spot."""
    return open_store(db, reading=reading)


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except ChaosError as exc:
        _fail(str(exc), exc.exit_code)


def _fail(message: str, code: int = ExitCode.INVALID) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


def _when(timestamp: float | datetime | None) -> str:
    if timestamp is None:
        return "-"
    moment = (
        timestamp if isinstance(timestamp, datetime) else datetime.fromtimestamp(timestamp, UTC)
    )
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def outcome_text(firing: FiringRecord) -> str:
    """``ran: passed (run abc123)``, ``skipped: blackout …``, ``missed (3 firings): …``."""
    outcome = firing.outcome.value + (f" ({firing.count} firings)" if firing.count > 1 else "")
    if firing.run_id:
        status = firing.run_status.value if firing.run_status else "?"
        return f"{outcome}: {status} (run {firing.run_id})"
    first_line = firing.detail.splitlines()[0] if firing.detail else ""
    return f"{outcome}: {first_line}" if first_line else outcome


def _firing_line(firing: FiringRecord) -> str:
    line = f"{_when(firing.scheduled_at)}  {outcome_text(firing)}"
    more = firing.detail.splitlines()[1:] if firing.detail and not firing.run_id else []
    details = [f"    {extra}" for extra in more]
    if firing.run_id and firing.detail:
        details.append(f"    {firing.detail}")
    return "\n".join([line, *details])


def _table(views: list[ScheduleView]) -> Any:  # a rich Table
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column in ("name", "trigger", "next fire", "policy", "last outcome", "file"):
        table.add_column(column, overflow="fold")
    for view in views:
        schedule = view.schedule
        trigger = f"{schedule.trigger} ({schedule.timezone})"
        if schedule.blackouts:
            trigger += "\nblackout: " + "; ".join(schedule.blackouts)
        upcoming = "paused" if schedule.paused else _when(view.next_fire)
        last = f"{_when(view.last.scheduled_at)} {outcome_text(view.last)}" if view.last else "-"
        table.add_row(schedule.name, trigger, upcoming, schedule.policy.value, last, schedule.file)
    return table
