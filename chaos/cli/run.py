"""``chaos run FILE``: run one experiment and exit with its verdict's code."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from chaos.cli.runsettings import agent_credentials, namespace_list
from chaos.cli.settings import chaos_home, database_url
from chaos.errors import ChaosError, ExitCode, SpecError

if TYPE_CHECKING:
    from rich.console import Console

    from chaos.controller.engine import RunEngine


def run(
    file: Path = typer.Argument(..., help="Experiment file (YAML).", show_default=False),
    lab: str = typer.Option(
        None, "--lab", envvar="CHAOS_LAB", help="Lab id whose processes may be targeted."
    ),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the run store."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for target selection."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every probe sample."),
    agent_token_file: Path | None = typer.Option(
        None, "--agent-token-file", help="Agents' bearer token (or $CHAOS_AGENT_TOKEN)."
    ),
    agent_cert: Path | None = typer.Option(
        None, "--agent-cert", envvar="CHAOS_AGENT_CERT", help="Controller cert (mTLS)."
    ),
    agent_key: Path | None = typer.Option(
        None, "--agent-key", envvar="CHAOS_AGENT_KEY", help="Controller key (mTLS)."
    ),
    agent_ca: Path | None = typer.Option(
        None, "--agent-ca", envvar="CHAOS_AGENT_CA", help="CA of agent certs (mTLS)."
    ),
    agent_tls_name: str | None = typer.Option(
        None,
        "--agent-tls-name",
        envvar="CHAOS_AGENT_TLS_NAME",
        help="Check agent certificates against this name instead of the agent's address "
        "(Kubernetes: agents are reached by pod IP).",
    ),
    allowed_namespaces: str | None = typer.Option(
        None,
        "--allowed-namespaces",
        envvar="CHAOS_ALLOWED_NAMESPACES",
        help="Comma-separated Kubernetes namespaces pods may be targeted in (unset: any "
        "unprotected one; set but empty: none).",
    ),
    platform_namespace: str = typer.Option(
        "chaos",
        "--platform-namespace",
        envvar="CHAOS_NAMESPACE",
        help="The platform's own Kubernetes namespace (protected like kube-system).",
    ),
    webhook: list[str] = typer.Option(
        [],
        "--webhook",
        help="POST a Slack-compatible message on start and verdict (repeatable; default: "
        "$CHAOS_WEBHOOKS, comma-separated).",
    ),
    load_log: Path | None = typer.Option(
        None,
        "--load-log",
        help="Also write every load request to DIR/requests-<pid>.jsonl (for audits).",
    ),
) -> None:
    """Run an experiment: preflight, baseline, faults, revert, recovery, verdict.

    Exit codes: 0 passed, 1 failed, 2 invalid input, 3 aborted, 4 could not run.
    """
    from rich.console import Console

    from chaos.controller.webhooks import WebhookNotifier
    from chaos.faults import CATALOG
    from chaos.report.terminal import live_view
    from chaos.runner.launch import RunSettings, prepare_run
    from chaos.spec.loader import load_file
    from chaos.store.repository import RunStore
    from chaos.targets import Scope

    console = Console()
    lab_id = lab or "default"
    try:
        experiment = load_file(file, catalog=CATALOG)
    except SpecError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(int(ExitCode.INVALID)) from None
    try:
        credentials = agent_credentials(
            lab_id, agent_token_file, agent_cert, agent_key, agent_ca, agent_tls_name
        )
        store = RunStore(database_url(db))
        notifier = WebhookNotifier.from_env(webhook)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    settings = RunSettings(
        scope=Scope(
            lab_id=lab_id,
            allowed_namespaces=namespace_list(allowed_namespaces),
            platform_namespace=platform_namespace,
        ),
        credentials=credentials,
        home=chaos_home(),
        load_log_dir=load_log,
    )
    prepared = prepare_run(
        experiment,
        source=str(file),
        store=store,
        settings=settings,
        subscribers=[live_view(console, verbose=verbose), *([notifier] if notifier else [])],
        seed=seed,
    )
    bus, engine = prepared.bus, prepared.engine

    previous = install_halt(engine, console)
    try:
        result = prepared.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if notifier is not None:  # bounded: a hanging webhook cannot hold the exit
            notifier.close(timeout=5)
    console.print(f"run id: {result.run_id}  (chaos runs show {result.run_id})")
    for problem in bus.errors:
        typer.echo(f"warning: event subscriber failed: {problem}", err=True)
    raise typer.Exit(int(result.exit_code))


def install_halt(engine: RunEngine, console: Console) -> dict[int, Any]:
    """Ctrl-C / SIGTERM halt the run (every fault reverted at once, exit 3); a second one
    also skips the recovery measurement. Returns the previous handlers."""
    halts: list[str] = []

    def halt(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        halts.append(name)
        if len(halts) == 1:
            console.print(
                f"[bold yellow]{name}: halting, reverting every fault… "
                "(again to skip the recovery measurement)[/]"
            )
        else:
            console.print(f"[bold yellow]{name}: skipping the recovery measurement[/]")
        engine.request_abort(f"operator halt ({name})")

    return {sig: signal.signal(sig, halt) for sig in (signal.SIGINT, signal.SIGTERM)}
