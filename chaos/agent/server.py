"""The agent's HTTP API (see docs/agent.md) on the shared JSON server (:mod:`chaos.agent.http`).

Unauthenticated: ``GET /healthz`` (liveness: "ok", or 503 "reaper dead/late") and ``GET /metrics``
(counts, no secrets). Everything under ``/v1`` needs credentials; a request
without them gets 401, with wrong ones 403, and changes nothing.
"""

from __future__ import annotations

import re
import ssl
from http import HTTPStatus
from typing import Any

from chaos import __version__
from chaos.agent.guards import OutOfScope
from chaos.agent.http import Auth, HttpLimits, JsonHandler, JsonServer
from chaos.agent.service import AgentService, Conflict, Gone, RevertOutcome
from chaos.errors import FaultError
from chaos.faults.wire_models import FAULT_ID_PATTERN, FAULT_ID_RULE

__all__ = ["CONTROLLER_ROLE", "AgentServer", "Auth"]

CONTROLLER_ROLE = "controller"
MAX_RENEW_IDS = 1000
# what the controller makes (chaos-<run>-s0-t1) with room to spare; nothing that could
# smuggle a path, a newline or a terminal escape into a log line
_FAULT_ID = re.compile(FAULT_ID_PATTERN)  # the wire model's rule: one rule for every call


class AgentServer(JsonServer):
    def __init__(
        self,
        address: tuple[str, int],
        *,
        service: AgentService,
        auth: Auth,
        ssl_context: ssl.SSLContext | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.service = service
        super().__init__(address, _Handler, auth=auth, ssl_context=ssl_context, limits=limits)

    def on_unauthorized(self) -> None:
        self.service.metrics.requests_unauthorized += 1


class _Handler(JsonHandler):
    server: AgentServer
    server_version = f"chaos-agent/{__version__}"
    realm = "chaos-agent"
    internal_error = "internal error; see the agent's log"

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
        # the typed wire model (chaos.faults.wire_models) refuses, before anything is
        # journaled, an id that renewals and DELETE /v1/faults/<id> would refuse
        created, fault = self.server.service.apply(body or {})
        return (HTTPStatus.CREATED if created else HTTPStatus.OK), fault

    def renew(self, body: dict[str, Any] | None, _: str) -> tuple[HTTPStatus, Any]:
        body = body or {}
        ids, ttl_s = body.get("ids"), body.get("ttl_s")
        if not isinstance(ids, list) or len(ids) > MAX_RENEW_IDS:
            return _bad(f"ids: a list of at most {MAX_RENEW_IDS} fault ids")
        for index, fault_id in enumerate(ids):
            if not valid_fault_id(fault_id):
                return _bad(f"ids[{index}]: {FAULT_ID_RULE}")
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float):
            return _bad("ttl_s: a number of seconds")
        return HTTPStatus.OK, self.server.service.renew(ids, float(ttl_s))

    def revert(self, body: dict[str, Any] | None, fault_id: str) -> tuple[HTTPStatus, Any]:
        if not valid_fault_id(fault_id):
            return _bad(f"fault id: {FAULT_ID_RULE}")
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


def valid_fault_id(value: object) -> bool:
    return isinstance(value, str) and _FAULT_ID.fullmatch(value) is not None


def _bad(message: str) -> tuple[HTTPStatus, Any]:
    return HTTPStatus.BAD_REQUEST, {"error": message}


def _status_for(exc: FaultError) -> HTTPStatus:
    if isinstance(exc, Gone):
        return HTTPStatus.GONE
    if isinstance(exc, Conflict):
        return HTTPStatus.CONFLICT
    if isinstance(exc, OutOfScope):  # the guards' Refused stays 422: a dangerous target
        return HTTPStatus.FORBIDDEN
    return HTTPStatus.UNPROCESSABLE_ENTITY
