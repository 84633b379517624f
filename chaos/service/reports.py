"""``GET /v1/runs/<id>/report``: what ``chaos report`` renders, for whoever can reach the API."""

from __future__ import annotations

from chaos.errors import UsageError
from chaos.store.repository import RunDetail, RunStore

REPORT_TYPES = {
    "json": "application/json",
    "junit": "application/xml; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def run_report(
    store: RunStore, detail: RunDetail, compare_to: str | None, margin: float, fmt: str
) -> str:
    """The report in ``fmt``; ``compare_to`` (a run id or ``latest-pass``) adds the
    regression comparison. An unknown run to compare with is a UsageError (400)."""
    from chaos.report.outputs import ReportFormat, render, resolve_reference
    from chaos.report.outputs import run_report as build

    if compare_to and ("/" in compare_to or compare_to.endswith(".json")):
        # a file on the controller's disk is not the caller's to name
        raise UsageError("compare_to must be a run id or latest-pass")
    reference = (
        resolve_reference(
            compare_to, store=store, experiment=detail.run.experiment, before=detail.run.started_at
        )
        if compare_to
        else None
    )
    document = build(detail, reference=reference, margin_pct=margin, fail_on_regression=False)
    return render(ReportFormat(fmt), document)
