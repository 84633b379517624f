"""``chaos halt RUN``: halt a run from any terminal (or host) sharing its run store."""

from __future__ import annotations

import typer

from chaos.cli.settings import open_store
from chaos.errors import ChaosError


def halt(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    reason: str = typer.Option("chaos halt", "--reason", help="Recorded with the abort."),
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL (default: $CHAOS_DB or SQLite)."
    ),
) -> None:
    """Halt a running experiment: every fault is reverted at once, the run ends with exit 3.

    The process running it (``chaos run``, a game day, the controller service) sees the
    request within a tenth of a second. A second halt also skips the recovery measurement.
    Exit 2 for an unknown run or one that already ended.
    """
    try:
        run = open_store(db, reading=True).request_halt(run_id, reason=reason)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    typer.echo(f"halt requested for run {run.id} ({run.experiment}); its faults are being reverted")
