"""The controller service's HTTP API: health, Prometheus metrics and the stored runs.

Probes (``/healthz`` checks that the run store answers), a scrape target
(``/metrics``), runs (submit, list, get with samples and verdict, their reports in
any of ``chaos report``'s formats, halt) and schedules. Submitted runs are executed
by the same engine as ``chaos run`` (:class:`~chaos.service.runs.RunManager`); a
halt goes through the store, so it reaches a run wherever it runs (this service, a
``chaos run``, a game day).

``/healthz`` and ``/metrics`` are unauthenticated (no secrets in them);
everything under ``/v1`` needs the bearer token and/or a client certificate,
as the agents' API does.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from chaos import __version__
from chaos.agent.http import Auth, JsonHandler, JsonServer, TextAnswer
from chaos.errors import (
    ChaosError,
    NotFoundError,
    SpecError,
    StateConflict,
    StoreError,
    UsageError,
)
from chaos.service import schedule_routes
from chaos.service.runs import ABORT_BUCKETS_S, RunManager
from chaos.store.repository import RunDetail, RunStore

if TYPE_CHECKING:
    from chaos.schedule.scheduler import Scheduler

log = logging.getLogger(__name__)

MAX_LIMIT = 500


class ControllerServer(JsonServer):
    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: RunStore,
        auth: Auth,
        runs: RunManager | None = None,
        scheduler: Scheduler | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
        self.runs = runs
        self.scheduler = scheduler
        self.unauthorized = 0
        super().__init__(address, _Handler, auth=auth, ssl_context=ssl_context)

    def on_unauthorized(self) -> None:
        self.unauthorized += 1


class _Handler(JsonHandler):
    server: ControllerServer
    server_version = f"chaos-controller/{__version__}"
    realm = "chaos-controller"

    def public(self, method: str, path: str) -> tuple[HTTPStatus, str] | None:
        if method != "GET" or path not in ("/healthz", "/metrics"):
            return None
        try:
            counts = self.server.store.count_by_status()
        except Exception as exc:  # the store is down: not ready, and say why
            log.warning("run store check failed: %r", exc)
            return HTTPStatus.SERVICE_UNAVAILABLE, f"run store unavailable: {type(exc).__name__}\n"
        if path == "/healthz":
            return HTTPStatus.OK, "ok\n"
        text = render_metrics(counts, unauthorized=self.server.unauthorized, runs=self.server.runs)
        if self.server.scheduler is not None:
            leader = int(self.server.scheduler.is_leader)
            text += (
                "# HELP chaos_scheduler_leader 1 if this controller fires the schedules.\n"
                "# TYPE chaos_scheduler_leader gauge\n"
                f"chaos_scheduler_leader {leader}\n"
            )
        return HTTPStatus.OK, text

    def error_answer(self, exc: Exception) -> tuple[HTTPStatus, Any] | None:
        if isinstance(exc, SpecError):
            issues = [str(issue) for issue in exc.issues]
            return HTTPStatus.BAD_REQUEST, {"error": "invalid experiment", "issues": issues}
        if isinstance(exc, UsageError):
            status = {NotFoundError: HTTPStatus.NOT_FOUND, StateConflict: HTTPStatus.CONFLICT}
            return status.get(type(exc), HTTPStatus.BAD_REQUEST), {"error": exc.message}
        if isinstance(exc, StoreError):
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)}
        if isinstance(exc, ChaosError):
            return HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc)}
        return None

    def list_runs(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        query = parse_qs(urlsplit(self.path).query)
        raw = query.get("limit", ["20"])[0]
        if not raw.isdigit() or not 0 < int(raw) <= MAX_LIMIT:
            return HTTPStatus.BAD_REQUEST, {"error": f"limit must be 1-{MAX_LIMIT}"}
        runs = self.server.store.list_runs(limit=int(raw))
        # a list carries each run's outcome, not its experiment (GET /v1/runs/<id> does)
        listed = [
            {key: value for key, value in dataclasses.asdict(run).items() if key != "spec"}
            for run in runs
        ]
        return HTTPStatus.OK, {"runs": listed}

    def get_run(self, body: dict[str, Any] | None, argument: str) -> tuple[HTTPStatus, Any]:
        run_id, _, part = argument.partition("/")
        if part not in ("", "report"):
            return HTTPStatus.NOT_FOUND, {"error": f"no {part!r} of runs"}
        detail = self.server.store.get_run(run_id)
        if detail is None:
            return HTTPStatus.NOT_FOUND, {
                "error": f"no run {run_id!r} (or the prefix is ambiguous)"
            }
        if part == "report":
            query = parse_qs(urlsplit(self.path).query)
            return run_report(self.server.store, detail, {k: v[-1] for k, v in query.items()})
        return HTTPStatus.OK, {
            "run": dataclasses.asdict(detail.run),
            "events": [dataclasses.asdict(event) for event in detail.events],
            "samples": [dataclasses.asdict(sample) for sample in detail.samples],
            "sli_points": [dataclasses.asdict(point) for point in detail.sli_points],
        }

    def submit_run(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        """``{"experiment": "<YAML text>", "source": "name.yaml"}`` → 201 ``{"run_id"}``;
        an invalid experiment is 400 with every located problem, and nothing starts."""
        body = body or {}
        text, source = body.get("experiment"), body.get("source") or "submitted.yaml"
        if not isinstance(text, str) or not text.strip():
            return HTTPStatus.BAD_REQUEST, {"error": "experiment must be the file's YAML text"}
        if self.server.runs is None:
            return HTTPStatus.SERVICE_UNAVAILABLE, {
                "error": "this service does not run experiments"
            }
        run_id = self.server.runs.submit(text, source=str(source))
        return HTTPStatus.CREATED, {"run_id": run_id, "url": f"/v1/runs/{run_id}"}

    def run_action(self, body: dict[str, Any] | None, argument: str) -> tuple[HTTPStatus, Any]:
        run_id, _, action = argument.partition("/")
        if action != "halt":
            return HTTPStatus.NOT_FOUND, {"error": f"no action {action!r} on runs"}
        reason = str((body or {}).get("reason") or "halted through the controller API")
        run = self.server.store.request_halt(run_id, reason=reason)  # 404 / 409 by error type
        return HTTPStatus.ACCEPTED, {"run_id": run.id, "halt": "requested"}

    def list_schedules(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        return schedule_routes.list_schedules(self.server.store)

    def add_schedule(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        return schedule_routes.add_schedule(self.server.store, body or {})

    def get_schedule(self, body: dict[str, Any] | None, name: str) -> tuple[HTTPStatus, Any]:
        return schedule_routes.schedule_action(self.server.store, "GET", name)

    def change_schedule(self, body: dict[str, Any] | None, arg: str) -> tuple[HTTPStatus, Any]:
        return schedule_routes.schedule_action(self.server.store, "POST", arg)

    def remove_schedule(self, body: dict[str, Any] | None, name: str) -> tuple[HTTPStatus, Any]:
        return schedule_routes.schedule_action(self.server.store, "DELETE", name)


_Handler.routes = {
    ("GET", "/v1/runs"): _Handler.list_runs,
    ("POST", "/v1/runs"): _Handler.submit_run,
    ("GET", "/v1/schedules"): _Handler.list_schedules,
    ("POST", "/v1/schedules"): _Handler.add_schedule,
}
_Handler.prefix_routes = {
    ("GET", "/v1/runs/"): _Handler.get_run,
    ("POST", "/v1/runs/"): _Handler.run_action,
    ("GET", "/v1/schedules/"): _Handler.get_schedule,
    ("POST", "/v1/schedules/"): _Handler.change_schedule,
    ("DELETE", "/v1/schedules/"): _Handler.remove_schedule,
}


def render_metrics(
    counts: dict[str, int], *, unauthorized: int, runs: RunManager | None = None
) -> str:
    lines = [
        "# HELP chaos_controller_info Controller version.",
        "# TYPE chaos_controller_info gauge",
        f'chaos_controller_info{{version="{__version__}"}} 1',
        "# HELP chaos_runs Stored runs, by status.",
        "# TYPE chaos_runs gauge",
        *(f'chaos_runs{{status="{status}"}} {count}' for status, count in sorted(counts.items())),
        "# HELP chaos_controller_requests_unauthorized_total Requests refused for credentials.",
        "# TYPE chaos_controller_requests_unauthorized_total counter",
        f"chaos_controller_requests_unauthorized_total {unauthorized}",
    ]
    if runs is not None:
        latency = runs.abort_latency
        lines += [
            "# HELP chaos_runs_active Runs this service is executing now.",
            "# TYPE chaos_runs_active gauge",
            f"chaos_runs_active {len(runs.active_runs())}",
            "# HELP chaos_faults_active Faults applied, not yet reverted, by this service's runs.",
            "# TYPE chaos_faults_active gauge",
            f"chaos_faults_active {runs.active_faults()}",
            "# HELP chaos_abort_latency_seconds From an abort request to every fault reverted.",
            "# TYPE chaos_abort_latency_seconds histogram",
            *(
                f'chaos_abort_latency_seconds_bucket{{le="{bound:g}"}} {count}'
                for bound, count in zip(ABORT_BUCKETS_S, latency.counts, strict=True)
            ),
            f'chaos_abort_latency_seconds_bucket{{le="+Inf"}} {latency.total}',
            f"chaos_abort_latency_seconds_sum {latency.sum_s:.6f}",
            f"chaos_abort_latency_seconds_count {latency.total}",
        ]
    return "\n".join(lines) + "\n"


REPORT_TYPES = {
    "json": "application/json",
    "junit": "application/xml; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def run_report(store: RunStore, detail: RunDetail, query: dict[str, str]) -> tuple[HTTPStatus, Any]:
    """``GET /v1/runs/<id>/report?format=json|junit|markdown|html[&compare_to=RUN|latest-pass]
    [&margin=PCT]``: what ``chaos report`` renders, for whoever can reach the API."""
    from chaos.report.outputs import ReportFormat, render, resolve_reference, run_report

    fmt = query.get("format", "json")
    if fmt not in REPORT_TYPES:
        return HTTPStatus.BAD_REQUEST, {"error": f"format must be one of {', '.join(REPORT_TYPES)}"}
    compare_to = query.get("compare_to")
    if compare_to and ("/" in compare_to or compare_to.endswith(".json")):
        # a file on the controller's disk is not the caller's to name
        return HTTPStatus.BAD_REQUEST, {"error": "compare_to must be a run id or latest-pass"}
    try:
        margin = float(query.get("margin", "10"))
    except ValueError:
        margin = -1.0
    if not 0 <= margin < 1e6:
        return HTTPStatus.BAD_REQUEST, {"error": "margin must be a percentage (>= 0)"}
    reference = (
        resolve_reference(
            compare_to,
            store=store,
            experiment=detail.run.experiment,
            before=detail.run.started_at,
        )
        if compare_to
        else None
    )
    document = run_report(detail, reference=reference, margin_pct=margin, fail_on_regression=False)
    return HTTPStatus.OK, TextAnswer(render(ReportFormat(fmt), document), REPORT_TYPES[fmt])
