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
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Serve /healthz, /metrics and the stored runs (GET /v1/runs, /v1/runs/ID)."""
    from chaos.service.run import ServiceConfig, serve

    start_logging(log_level)
    host, port = parse_listen(listen)
    config = ServiceConfig(
        host=host,
        port=port,
        database_url=database_url(db),
        token=read_token(token_file, env="CHAOS_CONTROLLER_TOKEN"),
        tls=tls_files(tls_cert, tls_key, tls_ca),
    )
    run_server(lambda: serve(config), listen)
