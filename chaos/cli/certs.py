"""``chaos certs init|issue``: a small CA for mutual TLS between controller and agents."""

from __future__ import annotations

from pathlib import Path

import typer

from chaos.errors import ChaosError

app = typer.Typer(help="Certificates for mutual TLS.", no_args_is_help=True)

DIR_OPTION = typer.Option(Path("certs"), "--dir", help="Where the CA and certificates live.")


@app.command("init")
def init(
    directory: Path = DIR_OPTION,
    force: bool = typer.Option(False, "--force", help="Replace an existing CA."),
) -> None:
    """Create the certificate authority (ca.crt, ca.key)."""
    from chaos.agent.certs import init_ca

    try:
        files = init_ca(directory, force=force)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    typer.echo(f"CA: {files.cert} (key {files.key}, mode 0600)")


@app.command("issue")
def issue(
    name: str = typer.Argument(..., help="Certificate name (the node name for an agent)."),
    role: str = typer.Option(..., "--role", help="agent or controller."),
    host: list[str] = typer.Option([], "--host", help="IP or DNS name of an agent (repeat)."),
    directory: Path = DIR_OPTION,
) -> None:
    """Issue a certificate signed by the CA."""
    from chaos.agent.certs import Role
    from chaos.agent.certs import issue as issue_certificate

    try:
        files = issue_certificate(directory, name=name, role=Role(role), hosts=host)
    except ValueError:
        raise typer.BadParameter("use agent or controller", param_hint="--role") from None
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    typer.echo(f"{role} certificate: {files.cert} (key {files.key}, mode 0600)")
