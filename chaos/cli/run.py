"""``chaos run FILE``: run one experiment and exit with its verdict's code."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from chaos.cli.reporting import (
    COMPARE_OPTION,
    FAIL_ON_REGRESSION_OPTION,
    HTML_OPTION,
    JSON_OPTION,
    JUNIT_OPTION,
    MARGIN_OPTION,
    MARKDOWN_OPTION,
    ReportRequest,
)
from chaos.cli.runsettings import VAR_OPTION, agent_credentials, cli_variables, namespace_list
from chaos.cli.settings import chaos_home, database_url
from chaos.errors import ChaosError, ExitCode, SpecError

if TYPE_CHECKING:
    from rich.console import Console

    from chaos.controller.engine import RunEngine
    from chaos.report.outputs import Reference
    from chaos.store.repository import RunStore


def run(
    file: Path = typer.Argument(..., help="Experiment file (YAML).", show_default=False),
    lab: str = typer.Option(
        None, "--lab", envvar="CHAOS_LAB", help="Lab id whose processes may be targeted."
    ),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the run store."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for target selection."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every probe sample."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print only the outcome and the run id (CI logs)."
    ),
    no_color: bool = typer.Option(
        False, "--no-color", help="Plain lines: no colour, no live board (as with $NO_COLOR)."
    ),
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
    junit: Path | None = JUNIT_OPTION,
    json_: Path | None = JSON_OPTION,
    markdown: Path | None = MARKDOWN_OPTION,
    html: Path | None = HTML_OPTION,
    compare_to: str | None = COMPARE_OPTION,
    margin: float = MARGIN_OPTION,
    fail_on_regression: bool = FAIL_ON_REGRESSION_OPTION,
    var: list[str] = VAR_OPTION,
) -> None:
    """Run an experiment: preflight, baseline, faults, revert, recovery, verdict.

    Exit codes: 0 passed, 1 failed (or regressed, with --fail-on-regression), 2 invalid
    input (checked before anything runs, report paths included), 3 aborted, 4 could not
    run.
    """
    from chaos.controller.webhooks import WebhookNotifier
    from chaos.faults import CATALOG
    from chaos.report.progress import RunProgress
    from chaos.runner.launch import RunSettings, prepare_run
    from chaos.spec.loader import load_file
    from chaos.store.repository import RunStore
    from chaos.targets import Scope

    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other", param_hint="'--quiet'")
    lab_id = lab or "default"
    try:
        experiment = load_file(file, catalog=CATALOG, variables=cli_variables(var))
    except SpecError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(int(ExitCode.INVALID)) from None
    progress = RunProgress.for_run(experiment, quiet=quiet, no_color=no_color, verbose=verbose)
    console = progress.console
    try:
        reports = ReportRequest.from_options(
            junit, json_, markdown, html, compare_to, margin, fail_on_regression
        )
        credentials = agent_credentials(
            lab_id, agent_token_file, agent_cert, agent_key, agent_ca, agent_tls_name
        )
        store = RunStore(database_url(db))
        reference = reports.reference(store, experiment=experiment.metadata.name)
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
        subscribers=[progress.subscriber(), *([notifier] if notifier else [])],
        seed=seed,
    )
    bus, engine = prepared.bus, prepared.engine

    previous = install_halt(engine, console)
    try:
        with progress:  # the live board, if any, from here to the verdict
            result = prepared.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if notifier is not None:  # bounded: a hanging webhook cannot hold the exit
            notifier.close(timeout=5)
    if not result.recorded:  # nothing trustworthy to show or report from the store
        console.print(f"run id: {result.run_id}  (not recorded in the run store: no reports)")
        raise typer.Exit(int(result.exit_code))
    console.print(f"run id: {result.run_id}  (chaos runs show {result.run_id})")
    for problem in bus.errors:
        typer.echo(f"warning: event subscriber failed: {problem}", err=True)
    exit_code = int(result.exit_code)
    if reports.outputs or reports.compare_to:
        exit_code = write_reports(reports, store, result.run_id, reference, console, quiet=quiet)
    raise typer.Exit(exit_code)


def write_reports(
    reports: ReportRequest,
    store: RunStore,
    run_id: str,
    reference: Reference | None,
    console: Console,
    *,
    quiet: bool,
) -> int:
    """Report files and regressions after the verdict; the exit code is the gate's (4 when
    a passing run's reports could not be written)."""
    detail = store.get_run(run_id)
    if detail is None:  # the store lost the run it just recorded
        typer.echo(f"error: run {run_id} is not in the run store: no reports", err=True)
        return int(ExitCode.ERROR)
    try:
        document = reports.report(detail, reference)
    except Exception as exc:  # a bug here must not hide the verdict: it is printed above
        typer.echo(f"error: cannot build the reports of run {run_id}: {exc!r}", err=True)
        return detail.run.exit_code or int(ExitCode.ERROR)
    comparison = document.get("comparison") or {}
    against = (comparison.get("against") or {}).get("run_id")
    for note in comparison.get("notes") or []:
        console.print(f"compare: {note}", markup=False, highlight=False)
    regressions = comparison.get("regressions") or []
    if against is not None:
        margin = f"margin {comparison['margin_pct']:g}%"
        heading = f"{len(regressions)} regression(s)" if regressions else "no regression"
        console.print(f"{heading} against run {against} ({margin})", highlight=False)
    for regression in regressions:
        console.print(f"  regression: {regression['summary']}", markup=False, highlight=False)
    gate = document["gate"]
    if gate["exit_code"] != detail.run.exit_code:
        console.print(f"gate: {gate['status'].upper()} (exit {gate['exit_code']})")
    written = reports.write(document, quiet=quiet)
    exit_code = int(gate["exit_code"] if gate["exit_code"] is not None else ExitCode.ERROR)
    return int(ExitCode.ERROR) if not written and exit_code == 0 else exit_code


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
