"""The ``chaos`` command. Command modules import heavy libraries only when they run."""

from __future__ import annotations

import os
import sys

import typer

from chaos import __version__
from chaos.cli import (
    agent,
    certs,
    controller,
    gameday,
    halt,
    lab,
    report,
    run,
    runs,
    schedule,
    validate,
)
from chaos.errors import ChaosError, ExitCode

app = typer.Typer(
    name="chaos",
    help="Declarative chaos experiments: steady state, faults, safe reverts, verdicts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("validate")(validate.validate)
app.command("schema")(validate.schema)
app.command("run")(run.run)
app.command("halt")(halt.halt)
app.command("report")(report.report)
app.add_typer(runs.app, name="runs")
app.add_typer(lab.app, name="lab")
app.add_typer(agent.app, name="agent")
app.add_typer(certs.app, name="certs")
app.add_typer(controller.app, name="controller")
app.add_typer(gameday.app, name="gameday")
app.add_typer(schedule.app, name="schedule")


@app.command("version")
def version() -> None:
    """Print the platform version."""
    typer.echo(__version__)


def main() -> None:
    # pydantic scans every installed distribution for plugins at first use (~12 ms);
    # the CLI uses none, and start-up time matters for a command run in CI loops
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app()
    except ChaosError as exc:  # anything not handled by a command: located message, its exit code
        typer.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(int(ExitCode.ABORTED))
