"""``chaos controller serve``: the long-running controller service."""

from __future__ import annotations

from pathlib import Path

import typer

from chaos.cli.agent import read_token
from chaos.cli.serving import parse_listen, run_server, start_logging, tls_files
from chaos.cli.settings import database_url

app = typer.Typer(help="The long-running controller service.", no_args_is_help=True)


@app.command("serve")
def serve(
    listen: str = typer.Option("127.0.0.1:8080", "--listen", help="HOST:PORT to listen on."),
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL (default: $CHAOS_DB or SQLite)."
    ),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Bearer token file (or $CHAOS_CONTROLLER_TOKEN)."
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Service certificate (mTLS)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Service key (mTLS)."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA of client certificates."),
    tls_client_role: str | None = typer.Option(
        None,
        "--tls-client-role",
        help="The role (OU) a client certificate must name, e.g. controller (with mTLS).",
    ),
    lab: str | None = typer.Option(
        None, "--lab", envvar="CHAOS_LAB", help="Lab id whose processes runs may target."
    ),
    schedules: bool = typer.Option(
        True, "--schedules/--no-schedules", help="Fire schedules (only the leader does)."
    ),
    allow_command_probes: bool = typer.Option(
        False,
        "--allow-command-probes",
        help="Let experiments submitted over the API (and schedules) run command probes: "
        "whoever holds a token can then run commands as this service's user.",
    ),
    log_level: str = typer.Option("INFO", "--log-level"),
    log_format: str = typer.Option("text", "--log-format", help="text, or json (one per line)."),
) -> None:
    """Serve the controller API: runs (submit, list, get, halt), schedules, /metrics.

    Agent credentials and Kubernetes settings come from the variables `chaos run` reads
    ($CHAOS_AGENT_TOKEN, $CHAOS_AGENT_CERT/KEY/CA, $CHAOS_ALLOWED_NAMESPACES, ...).
    SIGTERM halts every active run and waits for its reverts, then exits.
    """
    from chaos.cli.runsettings import settings_from_environment
    from chaos.controller.webhooks import WebhookNotifier
    from chaos.service.run import ServiceConfig, serve

    start_logging(log_level, log_format)
    host, port = parse_listen(listen)
    config = ServiceConfig(
        host=host,
        port=port,
        database_url=database_url(db),
        token=read_token(token_file, env="CHAOS_CONTROLLER_TOKEN"),
        tls=tls_files(tls_cert, tls_key, tls_ca),
        client_role=tls_client_role,
        run_settings=settings_from_environment(lab=lab),
        webhooks=WebhookNotifier.from_env(),  # $CHAOS_WEBHOOKS: every run's start and verdict
        schedules=schedules,
        command_probes=allow_command_probes,
    )
    run_server(lambda: serve(config), listen)
