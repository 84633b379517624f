"""The report options shared by ``chaos run`` and ``chaos report``, and what they do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from chaos.errors import UsageError

if TYPE_CHECKING:
    from chaos.report.outputs import Reference, ReportOutputs
    from chaos.store.repository import RunDetail, RunStore

PANEL = "Reports"

JUNIT_OPTION = typer.Option(
    None,
    "--junit",
    dir_okay=False,
    rich_help_panel=PANEL,
    help="Write a JUnit XML report: a test case per SLI and probe per phase, reverts, "
    "recovery, stop conditions and regressions.",
)
JSON_OPTION = typer.Option(
    None,
    "--json",
    dir_okay=False,
    rich_help_panel=PANEL,
    help="Write the whole run as JSON (schema: chaos schema --report).",
)
MARKDOWN_OPTION = typer.Option(
    None,
    "--markdown",
    dir_okay=False,
    rich_help_panel=PANEL,
    help="Write a short Markdown summary (a pull-request comment, $GITHUB_STEP_SUMMARY).",
)
HTML_OPTION = typer.Option(
    None,
    "--html",
    dir_okay=False,
    rich_help_panel=PANEL,
    help="Write a self-contained HTML report with charts.",
)
COMPARE_OPTION = typer.Option(
    None,
    "--compare-to",
    rich_help_panel=PANEL,
    help="Flag SLIs that got worse than in an earlier run: a run id, latest-pass, or an "
    "earlier run's JSON report.",
)
MARGIN_OPTION = typer.Option(
    10.0,
    "--regression-margin",
    min=0.0,
    rich_help_panel=PANEL,
    help="How much worse than the earlier run (percent of its value) is a regression.",
)
FAIL_ON_REGRESSION_OPTION = typer.Option(
    False,
    "--fail-on-regression",
    rich_help_panel=PANEL,
    help="Exit 1 when --compare-to finds a regression, even if the run passed.",
)


@dataclass(frozen=True)
class ReportRequest:
    """What the user asked for: report files and a comparison."""

    outputs: ReportOutputs
    compare_to: str | None
    margin_pct: float
    fail_on_regression: bool

    @classmethod
    def from_options(
        cls,
        junit: Path | None,
        json_: Path | None,
        markdown: Path | None,
        html: Path | None,
        compare_to: str | None,
        margin_pct: float,
        fail_on_regression: bool,
        /,
    ) -> ReportRequest:
        """The report options, in the order the commands declare them, checked at once:
        UsageError (exit 2) for a path that cannot be written or for --fail-on-regression
        without --compare-to."""
        from chaos.report.outputs import ReportOutputs

        if fail_on_regression and not compare_to:
            raise UsageError("--fail-on-regression needs --compare-to (what to compare with)")
        outputs = ReportOutputs.of(junit=junit, json=json_, markdown=markdown, html=html)
        outputs.check()
        return cls(outputs, compare_to, margin_pct, fail_on_regression)

    def reference(
        self, store: RunStore, *, experiment: str, before: float | None = None
    ) -> Reference | None:
        """The earlier run to compare with, resolved before the run starts (exit 2 if the
        user named one that is not there)."""
        if not self.compare_to:
            return None
        from chaos.report.outputs import resolve_reference

        return resolve_reference(self.compare_to, store=store, experiment=experiment, before=before)

    def report(self, detail: RunDetail, reference: Reference | None) -> dict[str, Any]:
        from chaos.report.outputs import run_report

        return run_report(
            detail,
            reference=reference,
            margin_pct=self.margin_pct,
            fail_on_regression=self.fail_on_regression,
        )

    def write(self, document: dict[str, Any], *, quiet: bool = False) -> bool:
        """Write the report files; False (and the problems on stderr) if any failed."""
        written, problems = self.outputs.write(document)
        if written and not quiet:
            typer.echo("reports: " + ", ".join(str(path) for path in written))
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        return not problems
