"""``chaos agent serve``: the node agent."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from chaos.cli.serving import parse_listen, run_server, start_logging, tls_files

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
    log_format: str = typer.Option("text", "--log-format", help="text, or json (one per line)."),
) -> None:
    """Serve the agent API; on SIGTERM revert every fault, then exit."""
    from chaos.agent.run import AgentConfig, TlsFiles, serve

    start_logging(log_level, log_format)
    host, port = parse_listen(listen)
    tls = tls_files(tls_cert, tls_key, tls_ca)
    config = AgentConfig(
        host=host,
        port=port,
        node=node,
        journal_dir=journal_dir,
        token=read_token(token_file),
        tls=TlsFiles(*tls) if tls else None,
    )
    run_server(lambda: serve(config), listen)
