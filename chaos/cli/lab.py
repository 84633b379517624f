"""``chaos lab up|down|status``: the built-in sample system to practise on."""

from __future__ import annotations

import os
from enum import StrEnum

import typer

from chaos.cli.settings import chaos_home
from chaos.errors import ChaosError, ExitCode

app = typer.Typer(
    help="The built-in lab: web -> api -> store, on loopback or in network namespaces.",
    no_args_is_help=True,
)

LAB_OPTION = typer.Option("default", "--lab", envvar="CHAOS_LAB", help="Lab id.")


class Variant(StrEnum):
    FRAGILE = "fragile"
    RESILIENT = "resilient"


class Isolation(StrEnum):
    PROCESS = "process"
    NETNS = "netns"


@app.command("up")
def up(
    variant: Variant = typer.Option(Variant.RESILIENT, "--variant", help="Which lab to run."),
    lab: str = LAB_OPTION,
    base_port: int = typer.Option(18080, "--base-port", min=1024, max=65000),
    restart_delay: float = typer.Option(
        2.0, "--restart-delay", min=0.0, help="Seconds before a killed service is restarted."
    ),
    isolation: Isolation = typer.Option(
        Isolation.PROCESS,
        "--isolation",
        help="process: loopback behind a proxy, no root. "
        "netns: one network namespace, agent and tmpfs disk per node (root).",
    ),
) -> None:
    """Start the lab (processes on loopback, or network namespaces with --isolation netns)."""
    from rich.console import Console

    from chaos.lab.manage import lab_up

    if isolation is Isolation.NETNS and os.geteuid() != 0:
        typer.echo(
            "error: --isolation netns needs root (it creates network namespaces, a bridge "
            "and tmpfs mounts); run it with sudo, or use --isolation process",
            err=True,
        )
        raise typer.Exit(int(ExitCode.ERROR))
    try:
        state = lab_up(
            chaos_home=chaos_home(),
            lab_id=lab,
            variant=variant.value,
            base_port=base_port,
            restart_delay_s=restart_delay,
            isolation=isolation.value,
        )
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(ExitCode.ERROR)) from None
    _print_state(Console(), state)


@app.command("down")
def down(lab: str = LAB_OPTION) -> None:
    """Stop the lab and every process it started."""
    from chaos.lab.manage import lab_down

    try:
        stopped = lab_down(chaos_home=chaos_home(), lab_id=lab)
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(ExitCode.ERROR)) from None
    typer.echo(f"lab {lab}: stopped" if stopped else f"lab {lab}: not running")


@app.command("status")
def status(
    lab: str = LAB_OPTION,
    as_json: bool = typer.Option(
        False, "--json", help="Print the state as JSON (web_url, home with the logs, ...)."
    ),
) -> None:
    """Show services, their health and restarts, links and active faults."""
    from rich.console import Console

    from chaos.lab.manage import lab_status

    state = lab_status(chaos_home=chaos_home(), lab_id=lab)
    if state is None:
        typer.echo(f"lab {lab}: not running", err=as_json)
        raise typer.Exit(int(ExitCode.ERROR))
    if as_json:
        import dataclasses
        import json

        shown = {**dataclasses.asdict(state), "web_url": state.web_url, "healthy": state.healthy}
        typer.echo(json.dumps(shown, indent=2, default=str))
        return
    _print_state(Console(), state)


def _print_state(console, state) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    where = f"isolation {state.isolation}" + (f" {state.subnet}" if state.subnet else "")
    console.print(
        f"[bold]lab {state.lab_id}[/] · variant [bold]{state.variant}[/] · {where} · "
        f"supervisor pid {state.supervisor_pid} · front door {state.web_url}"
    )
    services = Table(title="Services", title_justify="left")
    for column in ("name", "url", "pid", "restarts", "health"):
        services.add_column(column)
    for service in state.services:
        services.add_row(
            service.name, service.url, str(service.pid), str(service.restarts), _up(service.healthy)
        )
    console.print(services)
    if state.nodes:
        console.print(_nodes_table(state))
    else:
        console.print(_links_table(state))


def _up(healthy: bool) -> str:
    return "[green]up[/]" if healthy else "[red]down[/]"


def _nodes_table(state):  # type: ignore[no-untyped-def]
    from rich.table import Table

    nodes = Table(title="Nodes (one network namespace each)", title_justify="left")
    for column in ("node", "netns", "ip", "agent", "agent health", "disk"):
        nodes.add_column(column)
    for node in state.nodes:
        agent = _up(node.agent_healthy)
        nodes.add_row(node.name, node.netns, node.ip, node.agent_url, agent, str(node.disk))
    return nodes


def _links_table(state):  # type: ignore[no-untyped-def]
    from rich.table import Table

    links = Table(title="Links (through the lab proxy)", title_justify="left")
    for column in ("link", "listen", "upstream", "active faults"):
        links.add_column(column)
    for link in state.links:
        faults = ", ".join(f"{t.get('type')}:{t.get('id')}" for t in link.toxics) or "-"
        upstream = f"{link.upstream_host}:{link.upstream_port}"
        links.add_row(link.name, str(link.listen_port), upstream, faults)
    return links
