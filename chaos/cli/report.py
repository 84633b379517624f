"""``chaos report RUN_ID``: the reports of any stored run."""

from __future__ import annotations

from pathlib import Path

import typer

from chaos.cli.reporting import (
    COMPARE_OPTION,
    FAIL_ON_REGRESSION_OPTION,
    HTML_OPTION,
    JSON_OPTION,
    JUNIT_OPTION,
    MARGIN_OPTION,
    MARKDOWN_OPTION,
    ReportRequest,
)
from chaos.cli.settings import open_store
from chaos.errors import ChaosError, ExitCode


def report(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix).", show_default=False),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the run store."),
    junit: Path | None = JUNIT_OPTION,
    json_: Path | None = JSON_OPTION,
    markdown: Path | None = MARKDOWN_OPTION,
    html: Path | None = HTML_OPTION,
    compare_to: str | None = COMPARE_OPTION,
    margin: float = MARGIN_OPTION,
    fail_on_regression: bool = FAIL_ON_REGRESSION_OPTION,
) -> None:
    """Render a stored run's reports (JUnit, JSON, Markdown, HTML); with no file given,
    print the Markdown summary.

    Exit 0 when the reports were written (whatever the run's verdict); with
    --fail-on-regression, 1 when the comparison found a regression; 2 for an unknown
    run or an unwritable path.
    """
    from chaos.report.outputs import ReportFormat, render

    try:
        request = ReportRequest.from_options(
            junit, json_, markdown, html, compare_to, margin, fail_on_regression
        )
        store = open_store(db, reading=True)
        detail = store.get_run(run_id)
        if detail is None:
            typer.echo(f"error: no run with id {run_id!r} (or the prefix is ambiguous)", err=True)
            raise typer.Exit(int(ExitCode.INVALID))
        reference = request.reference(
            store, experiment=detail.run.experiment, before=detail.run.started_at
        )
    except ChaosError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    document = request.report(detail, reference)
    if not request.outputs:
        typer.echo(render(ReportFormat.MARKDOWN, document), nl=False)
    elif not request.write(document):
        raise typer.Exit(int(ExitCode.ERROR))
    regressed = fail_on_regression and document["gate"]["exit_code"] != detail.run.exit_code
    raise typer.Exit(int(ExitCode.FAILED) if regressed else 0)
