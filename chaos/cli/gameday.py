"""``chaos gameday``: run a game-day plan (experiments and holds), validate one, list and
show stored game days. The plan format and the run are described in docs/gamedays.md."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from chaos.cli.runsettings import VAR_OPTION, cli_variables
from chaos.cli.settings import open_store
from chaos.errors import ChaosError, ExitCode, SpecError

if TYPE_CHECKING:
    from rich.console import Console

    from chaos.gameday.runner import GameDayRunner
    from chaos.spec.gameday import GameDayPlan, HoldStep, PlannedStep

app = typer.Typer(
    help="Game days: a team runs a plan of experiments, with holds between them.",
    no_args_is_help=True,
)

DB_OPTION = typer.Option(None, "--db", help="SQLAlchemy URL (default: $CHAOS_DB or SQLite).")


@app.command("run")
def run(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="Game-day plan (YAML)."),
    lab: str = typer.Option(
        None, "--lab", envvar="CHAOS_LAB", help="Lab id whose processes may be targeted."
    ),
    db: str | None = DB_OPTION,
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Go through every hold without asking (CI, tests)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for target selection."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every probe sample."),
    webhook: list[str] = typer.Option(
        [],
        "--webhook",
        help="POST a Slack-compatible message on each run's start and verdict (repeatable; "
        "default: $CHAOS_WEBHOOKS, comma-separated).",
    ),
    var: list[str] = VAR_OPTION,
) -> None:
    """Run a game day: each experiment as `chaos run` would, each hold waiting for a go.

    Ctrl-C or SIGTERM (or `chaos halt RUN` from another terminal) halts the running
    experiment, reverting every fault, and ends the game day. Exit codes: 0 every
    experiment passed, else the first failing step's (1 failed, 3 aborted or halted,
    4 could not run); 2 invalid plan or a hold nobody can answer.
    """
    from rich.console import Console

    from chaos.cli.runsettings import settings_from_environment
    from chaos.controller.webhooks import WebhookNotifier
    from chaos.gameday.runner import GameDayRunner
    from chaos.report.gameday_view import GameDayView
    from chaos.store.gamedays import get_gameday

    console = Console()
    plan = _load(plan_file, variables=cli_variables(var))
    if plan.holds and not yes and not sys.stdin.isatty():
        typer.echo(
            f"error: {plan_file} has {len(plan.holds)} hold(s) and stdin is not a terminal, "
            "so nobody can answer them; run it from a terminal, or pass --yes to go "
            "through every hold (CI). Nothing was run.",
            err=True,
        )
        raise typer.Exit(int(ExitCode.INVALID))
    try:
        settings = settings_from_environment(lab=lab)
        notifier = WebhookNotifier.from_env(webhook)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    store = _store(db)
    view = GameDayView(console, verbose=verbose)
    gate = TerminalGate(console, auto=yes)
    runner = GameDayRunner(
        plan,
        store=store,
        settings=settings,
        gate=gate,
        observer=view,
        subscribers=[notifier] if notifier else [],
        seed=seed,
    )
    previous = install_halt(runner, gate, console)
    try:
        result = runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if notifier is not None:  # bounded: a hanging webhook cannot hold the exit
            notifier.close(timeout=5)
    record = get_gameday(store, result.gameday_id)
    if record is not None:
        view.summary(record)
    console.print(f"game day id: {result.gameday_id}  (chaos gameday show {result.gameday_id})")
    raise typer.Exit(int(result.exit_code))


@app.command("validate")
def validate(
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="Game-day plans to check."),
    var: list[str] = VAR_OPTION,
) -> None:
    """Check plans and every experiment they name; report each problem as file:line:col."""
    variables = cli_variables(var)
    invalid = 0
    for path in plans:
        try:
            plan = _load(path, exit_on_error=False, variables=variables)
        except SpecError as exc:
            invalid += 1
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            continue
        counts = f"{_count(len(plan.experiments), 'experiment')}, {_count(len(plan.holds), 'hold')}"
        typer.echo(f"{path}: ok ({plan.name}, {counts})")
    if invalid:
        typer.echo(f"{invalid} of {len(plans)} plans invalid", err=True)
        raise typer.Exit(int(ExitCode.INVALID))


@app.command("list")
def list_gamedays(
    limit: int = typer.Option(20, "--limit", "-n", help="How many, newest first."),
    db: str | None = DB_OPTION,
) -> None:
    """Stored game days, newest first."""
    from rich.console import Console

    from chaos.report.gameday_view import gamedays_table
    from chaos.store import gamedays

    Console().print(gamedays_table(gamedays.list_gamedays(_store(db, reading=True), limit=limit)))


@app.command("show")
def show(
    gameday_id: str = typer.Argument(..., help="Game-day id (or a unique prefix)."),
    db: str | None = DB_OPTION,
) -> None:
    """One stored game day: each step, its run, status and notes."""
    from rich.console import Console

    from chaos.report.gameday_view import show_gameday
    from chaos.store import gamedays

    record = gamedays.get_gameday(_store(db, reading=True), gameday_id)
    if record is None:
        typer.echo(f"error: no game day {gameday_id!r} (or the prefix is ambiguous)", err=True)
        raise typer.Exit(int(ExitCode.INVALID))
    show_gameday(Console(), record)


class TerminalGate:
    """Holds answered on the terminal: Enter goes on, "stop" (or Ctrl-C, or end of input)
    ends the game day. With ``auto`` (--yes) every hold is passed once it is printed."""

    def __init__(self, console: Console, *, auto: bool) -> None:
        self._console, self._auto = console, auto
        self.waiting = False  # a signal handler ends the wait by raising KeyboardInterrupt

    def wait(self, step: PlannedStep, hold: HoldStep) -> bool:
        if self._auto:
            self._console.print("   --yes: going on")
            return True
        try:
            self.waiting = True  # inside the try: a Ctrl-C right after this is a stop too
            while True:
                answer = self._console.input(
                    "   [bold]Enter[/] to go on, [bold]stop[/] to end the game day: "
                )
                if answer.strip().lower() in ("", "go", "y", "yes"):
                    return True
                if answer.strip().lower() in ("stop", "n", "no", "q", "quit"):
                    return False
                self._console.print("   (Enter to go on, or type stop)")
        except (KeyboardInterrupt, EOFError):
            return False
        finally:
            self.waiting = False


def install_halt(runner: GameDayRunner, gate: TerminalGate, console: Console) -> dict[int, Any]:
    """Ctrl-C / SIGTERM halt the game day: the running experiment reverts every fault at
    once (exit 3), a waiting hold ends; again also skips the recovery measurement."""
    halts: list[str] = []

    def halt(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        halts.append(name)
        if gate.waiting:
            console.print(f"\n[bold yellow]{name}: ending the game day at this hold[/]")
            runner.halt(name)
            raise KeyboardInterrupt
        if len(halts) == 1:
            console.print(
                f"[bold yellow]{name}: halting the game day, reverting every fault… "
                "(again to skip the recovery measurement)[/]"
            )
        else:
            console.print(f"[bold yellow]{name}: skipping the recovery measurement[/]")
        runner.halt(name)

    return {sig: signal.signal(sig, halt) for sig in (signal.SIGINT, signal.SIGTERM)}


def _load(path: Path, *, variables: dict[str, str], exit_on_error: bool = True) -> GameDayPlan:
    from chaos.faults import CATALOG
    from chaos.spec.loader import load_gameday_file

    try:
        return load_gameday_file(path, catalog=CATALOG, variables=variables)
    except SpecError as exc:
        if not exit_on_error:
            raise
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(int(ExitCode.INVALID)) from None


def _store(db: str | None, *, reading: bool = False) -> Any:
    """``reading``: a store that does not exist is an error, not made empty on the spot."""
    try:
        return open_store(db, reading=reading)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
