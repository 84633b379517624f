"""``chaos controller serve``: the long-running controller service."""

from __future__ import annotations

from pathlib import Path

import typer

from chaos.cli.agent import read_token
from chaos.cli.settings import database_url
from chaos.errors import ChaosError, ExitCode

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
    import logging

    from chaos.service.run import ServiceConfig, serve

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter("use HOST:PORT", param_hint="--listen")
    tls_parts = (tls_cert, tls_key, tls_ca)
    if any(tls_parts) and not all(tls_parts):
        raise typer.BadParameter("mTLS needs --tls-cert, --tls-key and --tls-ca together")
    config = ServiceConfig(
        host=host,
        port=int(port),
        database_url=database_url(db),
        token=read_token(token_file, env="CHAOS_CONTROLLER_TOKEN"),
        tls=(tls_cert, tls_key, tls_ca) if all(tls_parts) else None,  # type: ignore[arg-type]
    )
    try:
        serve(config)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {listen}: {exc.strerror}", err=True)
        raise typer.Exit(int(ExitCode.ERROR)) from None
