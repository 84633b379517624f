"""What the two long-running commands (``agent serve``, ``controller serve``) share:
reading HOST:PORT and the mTLS files, logging, and turning a failure to start into a
message and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from chaos.errors import ChaosError, ExitCode


def start_logging(level: str, fmt: str = "text") -> None:
    """Log lines to stderr; ``fmt="json"``: one JSON object per line (for log pipelines)."""
    if fmt not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--log-format")
    from chaos.cli.logformat import configure  # logging only when a server starts

    configure(level, json_lines=fmt == "json")


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter("use HOST:PORT", param_hint="--listen")
    return host, int(port)


def tls_files(
    cert: Path | None, key: Path | None, ca: Path | None
) -> tuple[Path, Path, Path] | None:
    """The three mTLS files, or None when none is given; some but not all is an error."""
    if cert and key and ca:
        return cert, key, ca
    if cert or key or ca:
        raise typer.BadParameter("mTLS needs --tls-cert, --tls-key and --tls-ca together")
    return None


def run_server(serve: Callable[[], None], listen: str) -> None:
    """Serve until stopped; a refused start is a message and its exit code, not a trace."""
    try:
        serve()
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {listen}: {exc.strerror}", err=True)
        raise typer.Exit(int(ExitCode.ERROR)) from None
