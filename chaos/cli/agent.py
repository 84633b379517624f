"""``chaos agent serve``: the node agent."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from chaos.errors import ChaosError, ExitCode

app = typer.Typer(help="The node agent that applies and reverts faults.", no_args_is_help=True)


def read_token(token_file: Path | None, *, env: str = "CHAOS_AGENT_TOKEN") -> str | None:
    """A token from a file (never from the command line, where `ps` would show it), else
    from the environment variable ``env``."""
    if token_file is not None:
        token = token_file.read_text().strip()
        if not token:
            raise typer.BadParameter(f"{token_file} is empty", param_hint="--token-file")
        return token
    return os.environ.get(env) or None


@app.command("serve")
def serve(
    listen: str = typer.Option("127.0.0.1:7070", "--listen", help="HOST:PORT to listen on."),
    node: str = typer.Option(..., "--node", help="Name of this node."),
    journal_dir: Path = typer.Option(..., "--journal-dir", help="Where the undo journal lives."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Bearer token file (or $CHAOS_AGENT_TOKEN)."
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Agent certificate (mTLS)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Agent key (mTLS)."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA of controller certificates."),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Serve the agent API; on SIGTERM revert every fault, then exit."""
    import logging  # here, not at import: `chaos --help` and `chaos validate` never need it

    from chaos.agent.run import AgentConfig, TlsFiles, serve

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter("use HOST:PORT", param_hint="--listen")
    tls_parts = (tls_cert, tls_key, tls_ca)
    if any(tls_parts) and not all(tls_parts):
        raise typer.BadParameter("mTLS needs --tls-cert, --tls-key and --tls-ca together")
    tls = TlsFiles(tls_cert, tls_key, tls_ca) if all(tls_parts) else None  # type: ignore[arg-type]
    config = AgentConfig(
        host=host,
        port=int(port),
        node=node,
        journal_dir=journal_dir,
        token=read_token(token_file),
        tls=tls,
    )
    try:
        serve(config)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {listen}: {exc.strerror}", err=True)
        raise typer.Exit(int(ExitCode.ERROR)) from None
