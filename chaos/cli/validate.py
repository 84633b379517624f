"""``chaos validate`` and ``chaos schema``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from chaos.cli.runsettings import VAR_OPTION, cli_variables
from chaos.errors import ExitCode, SpecError


def validate(
    files: list[Path] = typer.Argument(..., help="Experiment files to check.", show_default=False),
    var: list[str] = VAR_OPTION,
) -> None:
    """Check experiment files; report every problem as file:line:col: field: message."""
    from chaos.faults import CATALOG
    from chaos.spec.loader import load_file

    variables = cli_variables(var)
    invalid = 0
    for path in files:
        try:
            experiment = load_file(path, catalog=CATALOG, variables=variables)
        except SpecError as exc:
            invalid += 1
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            continue
        steps = len(experiment.spec.method)
        name = experiment.redact(experiment.metadata.name)  # even a name may be a ${VAR}
        typer.echo(f"{path}: ok ({name}, {steps} steps)")
    if invalid:
        typer.echo(f"{invalid} of {len(files)} files invalid", err=True)
        raise typer.Exit(int(ExitCode.INVALID))


def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    report: bool = typer.Option(
        False, "--report", help="The run report's schema (chaos run --json) instead."
    ),
) -> None:
    """Print the JSON Schema of the experiment format (or, with --report, of run reports)."""
    if report:
        from chaos.report.document import schema_text

        text = schema_text()
    else:
        from chaos.faults import CATALOG
        from chaos.spec.schema import experiment_schema

        text = json.dumps(experiment_schema(CATALOG), indent=2, sort_keys=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
