"""Which options the real ``chaos`` commands accept (read from the Typer app), and the
``chaos run|report|lab ...`` invocations written in shell scripts and docs."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from typing import Any

import typer.main

from chaos.cli.main import app

COMMANDS = re.compile(
    r"(?:^|(?<=[\s;&|(]))(?:\S*/)?chaos\s+(run|report|lab\s+(?:up|down|status))(?=\s|$)"
)
_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1", ")", "&"}


def command(path: Sequence[str]) -> Any:
    """The click command behind ``chaos <path...>``, e.g. ("run",) or ("lab", "up").
    (Typer bundles its own click, so this goes by attributes, not click's classes.)"""
    found = typer.main.get_command(app)
    for name in path:
        found = getattr(found, "commands", {}).get(name)
        assert found is not None, f"chaos has no command {' '.join(path)!r}"
    return found


def unknown_options(path: Sequence[str], args: Sequence[str]) -> list[str]:
    """The options in ``args`` (what follows ``chaos <path...>``) that the command lacks."""
    takes_value: dict[str, bool] = {}
    for param in command(path).params:
        if param.param_type_name == "option":
            for opt in (*param.opts, *param.secondary_opts):
                takes_value[opt] = not (param.is_flag or param.count)
    unknown, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            if name not in takes_value:
                unknown.append(name)
            skip = takes_value.get(name, False) and "=" not in arg
    return unknown


def invocations(script: str) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """Every ``chaos run|report|lab up|down|status`` command line in ``script`` as
    (command path, arguments): continuation lines joined, comments and what follows a
    shell operator (pipe, redirection, ``&&``) dropped."""
    for line in script.replace("\\\n", " ").splitlines():
        match = COMMANDS.search(line)
        if match is None or "#" in line[: match.start()]:
            continue
        path = tuple(match.group(1).split())
        tokens = shlex.split(line[match.end() :], comments=True)
        args = []
        for token in tokens:
            if token in _SHELL_OPERATORS:
                break
            args.append(token)
        yield path, args
