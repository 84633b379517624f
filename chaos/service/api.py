"""The controller service's HTTP API: health, Prometheus metrics, the stored runs and the
schedules, on FastAPI.

Probes (``/healthz`` checks that the run store answers), a scrape target
(``/metrics``), runs (submit, list, get with samples and verdict, their reports in
any of ``chaos report``'s formats, halt) and schedules. Submitted runs are executed
by the same engine as ``chaos run`` (:class:`~chaos.service.runs.RunManager`); a
halt goes through the store, so it reaches a run wherever it runs (this service, a
``chaos run``, a game day).

``/healthz``, ``/metrics`` and ``/openapi.json`` are unauthenticated (no secrets in
them); everything under ``/v1`` needs the bearer token and/or a client certificate
(:mod:`chaos.service.auth`). Every body and query parameter is a typed model
(:mod:`chaos.service.models`); refusals are ``{"error": ...}`` and never carry an
exception's text unless it was raised to be read (:mod:`chaos.service.errors`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Body, FastAPI, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from chaos import __version__
from chaos.errors import NotFoundError
from chaos.service import schedule_routes
from chaos.service.auth import AuthGate, ControllerAuth, RefusalCounter
from chaos.service.errors import ERRORS, install_error_handlers
from chaos.service.limits import BodyCap, HttpLimits
from chaos.service.metrics import render_metrics
from chaos.service.models import Halted, HaltRun, RunDetailBody, RunList, SubmitRun, Submitted
from chaos.service.reports import REPORT_TYPES, run_report
from chaos.service.runs import RunManager
from chaos.store.repository import RunStore

if TYPE_CHECKING:
    from chaos.schedule.scheduler import Scheduler

log = logging.getLogger(__name__)

MAX_LIMIT = 500
RUN_ID = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@dataclass
class ServiceState:
    """What the routes serve: the store, and this service's runs and schedules."""

    store: RunStore
    auth: ControllerAuth
    runs: RunManager | None = None
    scheduler: Scheduler | None = None
    limits: HttpLimits = field(default_factory=HttpLimits)
    refused: RefusalCounter = field(default_factory=RefusalCounter)
    command_probes: bool = False  # experiments with a command probe may be submitted


def create_app(state: ServiceState) -> Any:
    """The ASGI application uvicorn serves: body cap, then credentials, then the routes."""
    app = FastAPI(
        title="chaos controller",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Runs, their reports and halts, and schedules (docs/controller.md).",
    )
    install_error_handlers(app)
    _public_routes(app, state)
    _run_routes(app, state)
    schedule_routes.register(app, state.store, command_probes=state.command_probes)
    gated = AuthGate(app, auth=state.auth, refused=state.refused)
    return BodyCap(gated, max_body=state.limits.max_body)


def _public_routes(app: FastAPI, state: ServiceState) -> None:
    @app.get("/healthz", response_class=PlainTextResponse, include_in_schema=False)
    def healthz() -> Response:
        return _with_store(state, lambda _: "ok\n")

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics() -> Response:
        leader = state.scheduler.is_leader if state.scheduler is not None else None
        return _with_store(
            state,
            lambda counts: render_metrics(
                counts, unauthorized=state.refused.count, runs=state.runs, leader=leader
            ),
        )


def _with_store(state: ServiceState, text: Any) -> Response:
    try:
        counts = state.store.count_by_status()
    except Exception as exc:  # the store is down: not ready, and say why (its type only)
        log.warning("run store check failed: %r", exc)
        return PlainTextResponse(f"run store unavailable: {type(exc).__name__}\n", 503)
    return PlainTextResponse(text(counts))


def _run_routes(app: FastAPI, state: ServiceState) -> None:
    @app.get("/v1/runs", responses={200: {"model": RunList}, **ERRORS})
    def list_runs(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20) -> dict[str, Any]:
        # a list carries each run's outcome, not its experiment (GET /v1/runs/<id> does)
        return {
            "runs": [
                {k: v for k, v in dataclasses.asdict(run).items() if k != "spec"}
                for run in state.store.list_runs(limit=limit)
            ]
        }

    @app.post("/v1/runs", status_code=201, responses={201: {"model": Submitted}, **ERRORS})
    def submit_run(body: SubmitRun) -> dict[str, str]:
        """An invalid experiment is 400 with every located problem, and nothing starts."""
        if state.runs is None:
            return JSONResponse({"error": "this service does not run experiments"}, 503)  # type: ignore[return-value]
        run_id = state.runs.submit(body.experiment, source=body.source)
        return {"run_id": run_id, "url": f"/v1/runs/{run_id}"}

    @app.get("/v1/runs/{run_id}", responses={200: {"model": RunDetailBody}, **ERRORS})
    def get_run(run_id: RUN_ID) -> dict[str, Any]:
        detail = _detail(state, run_id)
        return {
            "run": dataclasses.asdict(detail.run),
            "events": [dataclasses.asdict(event) for event in detail.events],
            "samples": [dataclasses.asdict(sample) for sample in detail.samples],
            "sli_points": [dataclasses.asdict(point) for point in detail.sli_points],
        }

    @app.get("/v1/runs/{run_id}/report", response_class=Response, responses=ERRORS)
    def report(
        run_id: RUN_ID,
        format: Literal["json", "junit", "markdown", "html"] = "json",
        compare_to: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        margin: Annotated[float, Query(ge=0, lt=1e6, allow_inf_nan=False)] = 10.0,
    ) -> Response:
        """The run's report as ``chaos report`` renders it; ``compare_to`` is a run id or
        ``latest-pass``, never a file on the controller's disk."""
        text = run_report(state.store, _detail(state, run_id), compare_to, margin, format)
        return Response(text, media_type=REPORT_TYPES[format])

    @app.post(
        "/v1/runs/{run_id}/halt", status_code=202, responses={202: {"model": Halted}, **ERRORS}
    )
    def halt(run_id: RUN_ID, body: Annotated[HaltRun | None, Body()] = None) -> dict[str, str]:
        reason = (body or HaltRun()).reason
        run = state.store.request_halt(run_id, reason=reason)  # 404 / 409 by error type
        return {"run_id": run.id, "halt": "requested"}


def _detail(state: ServiceState, run_id: str) -> Any:
    detail = state.store.get_run(run_id)
    if detail is None:
        raise NotFoundError(f"no run {run_id!r} (or the prefix is ambiguous)")
    return detail
