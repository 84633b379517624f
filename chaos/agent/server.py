"""The agent's HTTP API (see docs/agent.md) on the shared JSON server (:mod:`chaos.agent.http`).

Unauthenticated: ``GET /healthz`` (liveness: "ok", or 503 "reaper dead/late") and ``GET /metrics``
(counts, no secrets). Everything under ``/v1`` needs credentials; a request
without them gets 401, with wrong ones 403, and changes nothing.
"""

from __future__ import annotations

import ssl
from http import HTTPStatus
from typing import Any

from chaos import __version__
from chaos.agent.guards import OutOfScope
from chaos.agent.http import Auth, JsonHandler, JsonServer
from chaos.agent.service import AgentService, Conflict, Gone, RevertOutcome
from chaos.errors import FaultError

__all__ = ["CONTROLLER_ROLE", "AgentServer", "Auth"]

CONTROLLER_ROLE = "controller"


class AgentServer(JsonServer):
    def __init__(
        self,
        address: tuple[str, int],
        *,
        service: AgentService,
        auth: Auth,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        super().__init__(address, _Handler, auth=auth, ssl_context=ssl_context)

    def on_unauthorized(self) -> None:
        self.service.metrics.requests_unauthorized += 1


class _Handler(JsonHandler):
    server: AgentServer
    server_version = f"chaos-agent/{__version__}"
    realm = "chaos-agent"

    def public(self, method: str, path: str) -> tuple[HTTPStatus, str] | None:
        if method == "GET" and path == "/healthz":
            problem = self.server.service.reaper_problem()  # leases that no longer expire
            if problem is not None:
                return HTTPStatus.SERVICE_UNAVAILABLE, f"{problem}\n"
            return HTTPStatus.OK, "ok\n"
        if method == "GET" and path == "/metrics":
            return HTTPStatus.OK, self._metrics()
        return None

    def error_answer(self, exc: Exception) -> tuple[HTTPStatus, Any] | None:
        if isinstance(exc, FaultError):
            return _status_for(exc), {"error": str(exc)}
        return None

    def _metrics(self) -> str:
        service = self.server.service
        health = service.health()
        return service.metrics.render(
            node=service.node,
            version=__version__,
            active=health["active"],
            stuck=len(health["stuck"]),
        )

    # ------------------------------------------------------------ routes

    def health(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        return HTTPStatus.OK, self.server.service.health()

    def list_faults(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        return HTTPStatus.OK, {"faults": self.server.service.list_active()}

    def apply(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        created, fault = self.server.service.apply(body or {})
        return (HTTPStatus.CREATED if created else HTTPStatus.OK), fault

    def renew(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        body = body or {}
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return HTTPStatus.BAD_REQUEST, {"error": "ids must be a list of fault ids"}
        return HTTPStatus.OK, self.server.service.renew(ids, body.get("ttl_s"))  # type: ignore[arg-type]

    def revert(self, body: dict[str, Any] | None, fault_id: str) -> tuple[HTTPStatus, Any]:
        outcome = self.server.service.revert(fault_id)
        if outcome is RevertOutcome.FAILED:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "id": fault_id,
                "reverted": False,
                "error": "revert failed; the agent keeps retrying (see /v1/health stuck)",
            }
        return HTTPStatus.OK, {
            "id": fault_id,
            "reverted": outcome is RevertOutcome.REVERTED,
            "outcome": outcome.value,
        }

    def revert_all(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        result = self.server.service.revert_all()
        status = HTTPStatus.INTERNAL_SERVER_ERROR if result["failed"] else HTTPStatus.OK
        return status, result


_Handler.routes = {
    ("GET", "/v1/health"): _Handler.health,
    ("GET", "/v1/faults"): _Handler.list_faults,
    ("POST", "/v1/faults"): _Handler.apply,
    ("DELETE", "/v1/faults"): _Handler.revert_all,
    ("POST", "/v1/leases/renew"): _Handler.renew,
}
_Handler.prefix_routes = {
    ("DELETE", "/v1/faults/"): _Handler.revert,
}


def _status_for(exc: FaultError) -> HTTPStatus:
    if isinstance(exc, Gone):
        return HTTPStatus.GONE
    if isinstance(exc, Conflict):
        return HTTPStatus.CONFLICT
    if isinstance(exc, OutOfScope):  # the guards' Refused stays 422: a dangerous target
        return HTTPStatus.FORBIDDEN
    return HTTPStatus.UNPROCESSABLE_ENTITY
