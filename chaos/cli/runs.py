"""``chaos runs list|show``."""

from __future__ import annotations

from typing import NoReturn

import typer

from chaos.cli.settings import open_store
from chaos.errors import ChaosError, ExitCode

app = typer.Typer(help="Stored runs.", no_args_is_help=True)

DB_OPTION = typer.Option(None, "--db", help="SQLAlchemy URL (default: $CHAOS_DB or SQLite).")


@app.command("list")
def list_runs(
    db: str | None = DB_OPTION,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs, newest first."),
) -> None:
    """List recent runs with their verdicts."""
    from rich.console import Console

    from chaos.report.terminal import runs_table

    try:
        runs = open_store(db, reading=True).list_runs(limit=limit)
    except ChaosError as exc:
        _fail(exc)
    console = Console()
    console.print(runs_table(runs, width=console.width))


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    db: str | None = DB_OPTION,
) -> None:
    """Show one run: timeline, probe samples per phase, verdict and reasons."""
    from rich.console import Console

    from chaos.report.terminal import show_run

    try:
        detail = open_store(db, reading=True).get_run(run_id)
    except ChaosError as exc:
        _fail(exc)
    if detail is None:
        typer.echo(f"error: no run with id {run_id!r} (or the prefix is ambiguous)", err=True)
        raise typer.Exit(int(ExitCode.INVALID))
    show_run(Console(), detail)


def _fail(exc: ChaosError) -> NoReturn:
    """One line on stderr and the error's exit code: a corrupt or missing store is no
    reason for a traceback."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(int(exc.exit_code)) from None
