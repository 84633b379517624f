"""``chaos run FILE``: run one experiment and exit with its verdict's code."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import typer

from chaos.cli.settings import database_url
from chaos.errors import ChaosError, ExitCode, SpecError


def run(
    file: Path = typer.Argument(..., help="Experiment file (YAML).", show_default=False),
    lab: str = typer.Option(
        None, "--lab", envvar="CHAOS_LAB", help="Lab id whose processes may be targeted."
    ),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the run store."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for target selection."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every probe sample."),
) -> None:
    """Run an experiment: preflight, baseline, faults, revert, recovery, verdict.

    Exit codes: 0 passed, 1 failed, 2 invalid input, 3 aborted, 4 could not run.
    """
    import random

    from rich.console import Console

    from chaos.controller.engine import RunEngine
    from chaos.controller.events import EventBus
    from chaos.controller.executor import LocalExecutor
    from chaos.faults import CATALOG
    from chaos.report.terminal import live_view
    from chaos.spec.loader import load_file
    from chaos.store.repository import RunStore
    from chaos.targets import Scope, default_backends

    console = Console(stderr=False)
    try:
        experiment = load_file(file, catalog=CATALOG)
    except SpecError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(int(ExitCode.INVALID)) from None
    try:
        store = RunStore(database_url(db))
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    bus = EventBus()
    bus.subscribe(store.recorder())
    bus.subscribe(live_view(console, verbose=verbose))
    backends = default_backends()
    engine = RunEngine(
        experiment=experiment,
        bus=bus,
        executor=LocalExecutor(backends=backends),
        backends=backends,
        catalog=CATALOG,
        scope=Scope(lab_id=lab or "default"),
        source=str(file),
        rng=random.Random(seed),
    )

    def halt(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        console.print(f"[bold yellow]{name}: halting, reverting every fault…[/]")
        engine.request_abort(f"operator halt ({name})")

    previous = {sig: signal.signal(sig, halt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = engine.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(f"run id: {result.run_id}  (chaos runs show {result.run_id})")
    for problem in bus.errors:
        typer.echo(f"warning: event subscriber failed: {problem}", err=True)
    raise typer.Exit(int(result.exit_code))
