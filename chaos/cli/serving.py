"""What the two long-running commands (``agent serve``, ``controller serve``) share:
reading HOST:PORT and the mTLS files, logging, and turning a failure to start into a
message and an exit code."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import typer

from chaos.errors import ChaosError, ExitCode

MAX_TLS_FILE = 1024 * 1024  # a certificate chain or key is a few KiB


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
        for path, flag in ((cert, "--tls-cert"), (key, "--tls-key"), (ca, "--tls-ca")):
            regular_file(path, flag)
        return cert, key, ca
    if cert or key or ca:
        raise typer.BadParameter("mTLS needs --tls-cert, --tls-key and --tls-ca together")
    return None


def regular_file(path: Path, flag: str) -> None:
    """ssl reads these itself: a FIFO or /dev/zero would block it or never end."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror}", param_hint=flag) from None
    if not stat.S_ISREG(mode) or path.stat().st_size > MAX_TLS_FILE:
        why = f"{path} must be a regular file of at most {MAX_TLS_FILE // 1024} KiB"
        raise typer.BadParameter(why, param_hint=flag)


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
