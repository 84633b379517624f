"""The controller service's HTTP API: health, Prometheus metrics and the stored runs.

This is the part the Helm chart's controller Deployment serves today: probes
(``/healthz`` checks that the run store answers), a scrape target
(``/metrics``) and read access to runs. Experiments run inside the controller
pod with ``chaos run`` (``kubectl exec``) and land in the same store.
Submitting runs, halting them and schedules come with the scheduler.

``/healthz`` and ``/metrics`` are unauthenticated (no secrets in them);
everything under ``/v1`` needs the bearer token and/or a client certificate,
as the agents' API does.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chaos import __version__
from chaos.agent.http import Auth, JsonHandler, JsonServer
from chaos.errors import ChaosError, StoreError
from chaos.store.repository import RunStore

log = logging.getLogger(__name__)

MAX_LIMIT = 500


class ControllerServer(JsonServer):
    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: RunStore,
        auth: Auth,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
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
        return HTTPStatus.OK, render_metrics(counts, unauthorized=self.server.unauthorized)

    def error_answer(self, exc: Exception) -> tuple[HTTPStatus, Any] | None:
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
        return HTTPStatus.OK, {"runs": [dataclasses.asdict(run) for run in runs]}

    def get_run(self, body: dict[str, Any] | None, run_id: str) -> tuple[HTTPStatus, Any]:
        detail = self.server.store.get_run(run_id)
        if detail is None:
            return HTTPStatus.NOT_FOUND, {
                "error": f"no run {run_id!r} (or the prefix is ambiguous)"
            }
        return HTTPStatus.OK, {
            "run": dataclasses.asdict(detail.run),
            "events": [dataclasses.asdict(event) for event in detail.events],
        }


_Handler.routes = {("GET", "/v1/runs"): _Handler.list_runs}
_Handler.prefix_routes = {("GET", "/v1/runs/"): _Handler.get_run}


def render_metrics(counts: dict[str, int], *, unauthorized: int) -> str:
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
    return "\n".join(lines) + "\n"
