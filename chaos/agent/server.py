"""The agent's HTTP API on the standard library's threading HTTP server.

Why the standard library: the agent runs on every node, so its footprint
matters more than its throughput (a handful of requests per fault). No web
framework, no event loop: ``http.server`` with one thread per connection,
HTTP/1.1 keep-alive so a controller reuses one connection per agent, and
``ssl`` for mutual TLS. See docs/agent.md for the API.

Unauthenticated: ``GET /healthz`` (liveness, says only "ok") and ``GET /metrics``
(counts, no secrets). Everything under ``/v1`` needs credentials; a request
without them gets 401, with wrong ones 403, and changes nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from chaos import __version__
from chaos.agent.service import AgentService, Conflict, Gone, RevertOutcome
from chaos.errors import FaultError

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
CONTROLLER_ROLE = "controller"


@dataclass(frozen=True)
class Auth:
    """Bearer token, client certificate role (mTLS), or both (then both are required)."""

    token: str | None = None
    client_role: str | None = None  # required OU of the client certificate

    def check(self, handler: BaseHTTPRequestHandler) -> tuple[HTTPStatus, str] | None:
        if self.client_role is not None:
            role = _peer_role(handler)
            if role is None:
                return HTTPStatus.UNAUTHORIZED, "client certificate required"
            if role != self.client_role:
                return HTTPStatus.FORBIDDEN, f"certificate role {role!r} may not call this API"
        if self.token is not None:
            header = handler.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return HTTPStatus.UNAUTHORIZED, "bearer token required"
            if not hmac.compare_digest(header[7:].encode(), self.token.encode()):
                return HTTPStatus.FORBIDDEN, "wrong token"
        return None


def _peer_role(handler: BaseHTTPRequestHandler) -> str | None:
    connection = handler.connection
    if not isinstance(connection, ssl.SSLSocket):
        return None
    cert = connection.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "organizationalUnitName":
                return str(value)
    return None


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        service: AgentService,
        auth: Auth,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.auth = auth
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which stalls for seconds in a
        # namespace or pod without DNS; the name is only used for CGI variables
        super(ThreadingHTTPServer, self).server_bind()  # TCPServer.server_bind: bind only
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # handshake in the connection's own thread (see finish_request), not here,
            # so one slow client cannot stall every other one
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError) as exc:
                log.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
        super().finish_request(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}"


Route = Callable[["_Handler", dict[str, Any] | None, str], tuple[HTTPStatus, Any]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AgentServer
    server_version = f"chaos-agent/{__version__}"

    # ------------------------------------------------------------ plumbing

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        # request line and status only: never headers (they carry the token)
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if method == "GET" and path == "/healthz":
            return self._send(HTTPStatus.OK, "ok\n", content_type="text/plain")
        if method == "GET" and path == "/metrics":
            return self._send(HTTPStatus.OK, self._metrics(), content_type="text/plain")
        route, argument = _route(method, path)
        if route is None:
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"no route {method} {path}"})
        refused = self.server.auth.check(self)
        if refused is not None:
            self.server.service.metrics.requests_unauthorized += 1
            self._drain_body()
            return self._send(refused[0], {"error": refused[1]}, auth_failed=True)
        try:
            body = self._read_json() if method == "POST" else None
        except ValueError as exc:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        try:
            status, payload = route(self, body, argument)
        except FaultError as exc:
            status = _status_for(exc)
            payload = {"error": str(exc)}
        except Exception as exc:  # an agent bug must answer, not kill the connection thread
            log.exception("internal error on %s %s", method, path)
            status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": repr(exc)}
        self._send(status, payload)

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_BODY:
            self.rfile.read(length)

    def _send(
        self,
        status: HTTPStatus,
        payload: Any,
        *,
        content_type: str = "application/json",
        auth_failed: bool = False,
    ) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if auth_failed and status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="chaos-agent"')
        self.end_headers()
        self.wfile.write(data)

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


_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/health"): _Handler.health,
    ("GET", "/v1/faults"): _Handler.list_faults,
    ("POST", "/v1/faults"): _Handler.apply,
    ("DELETE", "/v1/faults"): _Handler.revert_all,
    ("POST", "/v1/leases/renew"): _Handler.renew,
}
_PREFIX_ROUTES: dict[tuple[str, str], Route] = {
    ("DELETE", "/v1/faults/"): _Handler.revert,
}


def _route(method: str, path: str) -> tuple[Route | None, str]:
    exact = _ROUTES.get((method, path))
    if exact is not None:
        return exact, ""
    for (route_method, prefix), route in _PREFIX_ROUTES.items():
        if method == route_method and path.startswith(prefix) and len(path) > len(prefix):
            return route, unquote(path[len(prefix) :])
    return None, ""


def _status_for(exc: FaultError) -> HTTPStatus:
    if isinstance(exc, Gone):
        return HTTPStatus.GONE
    if isinstance(exc, Conflict):
        return HTTPStatus.CONFLICT
    return HTTPStatus.UNPROCESSABLE_ENTITY
