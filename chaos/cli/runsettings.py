"""RunSettings from the command line and the environment, the same for every command that
starts runs (``chaos run``, ``controller serve``, ``gameday run``, schedules)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chaos.cli.agent import read_token
from chaos.cli.serving import regular_file
from chaos.cli.settings import chaos_home

if TYPE_CHECKING:
    from chaos.controller.agent_client import AgentCredentials
    from chaos.runner.launch import RunSettings


VAR_OPTION = typer.Option(
    [],
    "--var",
    metavar="NAME=VALUE",
    help="A value for ${NAME} in the experiment (repeatable). Besides these, only "
    "CHAOS_VAR_* environment variables are read; values never appear in output.",
)


def cli_variables(assignments: list[str]) -> dict[str, str]:
    """What ``${NAME}`` may read in a CLI command: CHAOS_VAR_* and ``--var`` (exit 2 on a
    malformed ``--var``, without echoing it: it may be the secret itself)."""
    from chaos.errors import UsageError
    from chaos.spec.variables import opted_in

    try:
        return opted_in(assignments)
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None


def namespace_list(text: str | None) -> frozenset[str] | None:
    """``a,b`` → {a, b}; None (unset) → None: no allowlist; blank → nothing allowed."""
    if text is None:
        return None
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def agent_credentials(
    lab_id: str,
    token_file: Path | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    tls_name: str | None = None,
) -> AgentCredentials:
    """Token from the file, $CHAOS_AGENT_TOKEN or the lab's own token file; mTLS from the
    three certificate files; agent certificates checked against ``tls_name`` if given."""
    from chaos.controller.agent_client import AgentCredentials

    token = read_token(token_file)
    lab_token = chaos_home() / "labs" / lab_id / "agent.token"
    if token is None and lab_token.is_file():
        token = read_token(lab_token)
    ssl_context = None
    if cert or key or ca:
        if not (cert and key and ca):
            raise typer.BadParameter("mTLS needs --agent-cert, --agent-key and --agent-ca")
        for path, flag in ((cert, "--agent-cert"), (key, "--agent-key"), (ca, "--agent-ca")):
            regular_file(path, flag)
        from chaos.host.tls import client_context

        ssl_context = client_context(cert=cert, key=key, ca=ca)
    return AgentCredentials(token=token, ssl_context=ssl_context, server_name=tls_name)


def settings_from_environment(
    *, lab: str | None = None, load_log: Path | None = None
) -> RunSettings:
    """Settings for commands without the per-run options: the lab from ``lab`` or $CHAOS_LAB,
    agent credentials and namespaces from the variables ``chaos run`` also reads."""
    from chaos.runner.launch import RunSettings
    from chaos.targets import Scope

    env = os.environ
    lab_id = lab or env.get("CHAOS_LAB") or "default"

    def path(name: str) -> Path | None:
        return Path(env[name]) if env.get(name) else None

    credentials = agent_credentials(
        lab_id,
        None,
        path("CHAOS_AGENT_CERT"),
        path("CHAOS_AGENT_KEY"),
        path("CHAOS_AGENT_CA"),
        env.get("CHAOS_AGENT_TLS_NAME") or None,
    )
    scope = Scope(
        lab_id=lab_id,
        allowed_namespaces=namespace_list(env.get("CHAOS_ALLOWED_NAMESPACES")),
        platform_namespace=env.get("CHAOS_NAMESPACE") or "chaos",
    )
    return dataclasses.replace(
        RunSettings(scope=scope, credentials=credentials, home=chaos_home()),
        load_log_dir=load_log,
    )
