"""``chaos agent serve``: the node agent."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from chaos.cli.serving import parse_listen, run_server, start_logging, tls_files
from chaos.errors import ChaosError
from chaos.spec.files import read_user_file

MAX_TOKEN_FILE = 64 * 1024

app = typer.Typer(help="The node agent that applies and reverts faults.", no_args_is_help=True)


def read_token(token_file: Path | None, *, env: str = "CHAOS_AGENT_TOKEN") -> str | None:
    """A token from a file (never from the command line, where `ps` would show it), else
    from the environment variable ``env``."""
    if token_file is not None:
        try:  # a regular file of at most 64 KiB: /dev/zero or a FIFO is refused at once
            raw = read_user_file(token_file, max_bytes=MAX_TOKEN_FILE, what="token file")
            token = raw.decode("ascii").strip()
        except (ChaosError, UnicodeDecodeError) as exc:
            why = exc.message if isinstance(exc, ChaosError) else "not ASCII"
            raise typer.BadParameter(why, param_hint="--token-file") from None
        return _checked_token(token, where=str(token_file), hint="--token-file")
    token = os.environ.get(env) or None
    return None if token is None else _checked_token(token, where=f"${env}", hint=env)


def _checked_token(token: str, *, where: str, hint: str) -> str:
    """A token goes into an Authorization header: printable ASCII, no spaces (never echoed)."""
    if not token:
        raise typer.BadParameter(f"{where} is empty", param_hint=hint)
    if not all(33 <= ord(c) <= 126 for c in token) or len(token) > MAX_TOKEN_FILE:
        raise typer.BadParameter(
            f"the token in {where} must be printable ASCII without spaces", param_hint=hint
        )
    return token


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
    scope_lab: list[str] = typer.Option(
        [], "--scope-lab", help="Lab id whose processes (CHAOS_LAB_ID) this agent may act on."
    ),
    scope_cgroup: list[str] = typer.Option(
        [], "--scope-cgroup", help="Cgroup path prefix whose processes this agent may act on."
    ),
    scope_runtime: list[str] = typer.Option(
        [],
        "--scope-runtime",
        help="Container runtime (docker, containerd, cri-o) whose containers it may act on.",
    ),
    scope_node: bool = typer.Option(
        False, "--scope-node", help="Allow faults on the node itself (no target process)."
    ),
    scope_ram_disk: list[Path] = typer.Option(
        [], "--scope-ram-disk", help="A tmpfs directory disk-fill may fill (e.g. a lab disk)."
    ),
    scope_allow_ram_backed: bool = typer.Option(
        False,
        "--scope-allow-ram-backed",
        help="Let disk-fill requests opt into RAM-backed filesystems (allowRamBacked).",
    ),
    log_level: str = typer.Option("INFO", "--log-level"),
    log_format: str = typer.Option("text", "--log-format", help="text, or json (one per line)."),
) -> None:
    """Serve the agent API; on SIGTERM revert every fault, then exit.

    The agent acts only on what its --scope-* flags allow; without any, it refuses
    every fault (see docs/agent.md, "Scope and refusals").
    """
    from chaos.agent.run import AgentConfig, TlsFiles, serve
    from chaos.agent.scope import ScopePolicy
    from chaos.errors import UsageError

    start_logging(log_level, log_format)
    host, port = parse_listen(listen)
    tls = tls_files(tls_cert, tls_key, tls_ca)
    try:
        scope = ScopePolicy.from_flags(
            labs=scope_lab,
            cgroups=scope_cgroup,
            runtimes=scope_runtime,
            node=scope_node,
            ram_disks=scope_ram_disk,
            allow_ram_backed=scope_allow_ram_backed,
        )
    except UsageError as exc:
        raise typer.BadParameter(exc.message, param_hint="--scope-*") from None
    config = AgentConfig(
        host=host,
        port=port,
        node=node,
        journal_dir=journal_dir,
        token=read_token(token_file),
        tls=TlsFiles(*tls) if tls else None,
        scope=scope,
    )
    run_server(lambda: serve(config), listen)
