"""``chaos runs list|show``."""

from __future__ import annotations

import typer

from chaos.cli.settings import database_url
from chaos.errors import ExitCode

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
    from chaos.store.repository import RunStore

    store = RunStore(database_url(db))
    console = Console()
    console.print(runs_table(store.list_runs(limit=limit), width=console.width))


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    db: str | None = DB_OPTION,
) -> None:
    """Show one run: timeline, probe samples per phase, verdict and reasons."""
    from rich.console import Console

    from chaos.report.terminal import show_run
    from chaos.store.repository import RunStore

    detail = RunStore(database_url(db)).get_run(run_id)
    if detail is None:
        typer.echo(f"error: no run with id {run_id!r} (or the prefix is ambiguous)", err=True)
        raise typer.Exit(int(ExitCode.INVALID))
    show_run(Console(), detail)
