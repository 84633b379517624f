"""JSON over HTTP(S) with bearer-token and mutual-TLS authentication, on the standard
library: the agent's API (the controller service runs on FastAPI, chaos.service).

Why the standard library: the agent runs on every node, so its footprint matters
more than its throughput (a handful of requests per fault). ``http.server`` parses
each request; :mod:`chaos.agent.httploop` owns the sockets, so that idle and slow
clients cost no thread, every phase has a deadline and the number of connections,
threads and buffered bytes is bounded (:class:`HttpLimits`, docs/agent.md).
"""

from __future__ import annotations

import hmac
import json
import logging
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import BytesIO
from typing import Any
from urllib.parse import unquote

from chaos import __version__
from chaos.agent.httpframe import (
    FramingError,
    HttpLimits,
    SocketWriter,
    body_length,
    json_object,
)
from chaos.agent.httploop import ConnectionLoop, Exchange

__all__ = ["Auth", "HttpLimits", "JsonHandler", "JsonServer"]

log = logging.getLogger(__name__)

MAX_BODY = HttpLimits().max_body_bytes


@dataclass(frozen=True)
class Auth:
    """Bearer token, client certificate role (mTLS), or both (then both are required)."""

    token: str | None = None
    client_role: str | None = None  # required OU of the client certificate

    def check(self, handler: BaseHTTPRequestHandler) -> tuple[HTTPStatus, str] | None:
        if self.client_role is not None:
            role = peer_role(handler)
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


def peer_role(handler: BaseHTTPRequestHandler) -> str | None:
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


class JsonServer(HTTPServer):
    """An HTTP(S) server whose handler answers JSON routes behind ``auth``, with every
    connection bounded by ``limits`` (see :mod:`chaos.agent.httploop`)."""

    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[JsonHandler],
        *,
        auth: Auth,
        ssl_context: ssl.SSLContext | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.auth = auth
        self.ssl_context = ssl_context
        self.limits = limits or HttpLimits()
        self.request_queue_size = self.limits.backlog
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._loop: ConnectionLoop | None = None
        super().__init__(address, handler)

    def on_unauthorized(self) -> None:
        """Called for each refused request (subclasses count them)."""

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which stalls for seconds in a
        # namespace or pod without DNS; the name is only used for CGI variables
        socketserver.TCPServer.server_bind(self)  # bind only
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (same contract as ``socketserver``)."""
        self._stopped.clear()
        self._loop = ConnectionLoop(
            self.socket, respond=self._respond, limits=self.limits, ssl_context=self.ssl_context
        )
        try:
            self._loop.run(poll_interval=poll_interval, stop=self._stop_requested)
        finally:
            self._stop_requested.clear()
            self._stopped.set()

    def shutdown(self) -> None:
        self._stop_requested.set()
        if self._loop is not None:
            self._loop.wake()
        self._stopped.wait()

    def connection_stats(self) -> dict[str, int]:
        """Open connections and worker threads now (for tests and benchmarks)."""
        return self._loop.stats() if self._loop is not None else {}

    def _respond(self, exchange: Exchange) -> bool:
        handler = self.RequestHandlerClass(
            exchange.conn.sock, exchange.conn.address, self, data=exchange.data
        )
        return not handler.close_connection

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}"


Route = Callable[["JsonHandler", dict[str, Any] | None, str], tuple[HTTPStatus, Any]]


class JsonHandler(BaseHTTPRequestHandler):
    """Routes ``(method, path)`` and ``(method, prefix)`` to methods returning (status, JSON).

    Subclasses set ``routes``/``prefix_routes``, may answer unauthenticated paths in
    ``public`` and map their own errors in ``error_answer``. One instance answers one
    request, whose bytes the connection loop has already read whole (``data``).
    """

    protocol_version = "HTTP/1.1"
    server: JsonServer
    server_version = f"chaos/{__version__}"
    realm = "chaos"
    routes: dict[tuple[str, str], Route] = {}
    prefix_routes: dict[tuple[str, str], Route] = {}
    methods = frozenset({"GET", "POST", "DELETE"})
    internal_error = "internal error; see the server's log"  # the whole answer to a bug

    def __init__(self, request: Any, client_address: Any, server: JsonServer, *, data: bytes):
        self._data = data
        self.close_connection = True
        super().__init__(request, client_address, server)

    # ------------------------------------------------------------ plumbing

    def setup(self) -> None:
        self.connection = self.request
        self.rfile = BytesIO(self._data)
        self.wfile = SocketWriter(self.connection)

    def handle(self) -> None:
        self.handle_one_request()

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return
        if not self.parse_request():
            return
        if self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported")
            return
        if self.command not in self.methods:
            self._send(
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"error": f"method not allowed; use one of {', '.join(sorted(self.methods))}"},
                extra={"Allow": ", ".join(sorted(self.methods))},
            )
            return
        self._dispatch(self.command)

    def handle_expect_100(self) -> bool:
        return True  # the connection loop already said 100 Continue when it was waiting

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (bad request line, too many headers, HTTP/2.0), as
        # JSON; none of them is the server's fault, so none is a 5xx
        status = HTTPStatus(code) if code < 500 else HTTPStatus.BAD_REQUEST
        self.close_connection = True
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # always answer with a status line
        self._send(status, {"error": message or status.phrase}, extra={"Connection": "close"})

    def log_message(self, format: str, *args: Any) -> None:
        # request line and status only: never headers (they carry the token)
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            length = body_length(self.headers, max_body=self.server.limits.max_body_bytes)
        except FramingError as exc:
            self.close_connection = True  # the body's end is unknown: nothing after it is
            return self._send(HTTPStatus(exc.status), {"error": str(exc)})
        raw = self.rfile.read(length)
        public = self.public(method, path)
        if public is not None:
            return self._send(public[0], public[1], content_type="text/plain")
        route, argument = self._route(method, path)
        if route is None:
            shown = path if len(path) <= 80 else path[:80] + "..."
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"no route {method} {shown}"})
        refused = self.server.auth.check(self)
        if refused is not None:
            self.server.on_unauthorized()
            return self._send(refused[0], {"error": refused[1]}, auth_failed=True)
        depth = self.server.limits.max_json_depth
        try:
            body = json_object(raw, max_depth=depth) if method == "POST" else None
        except ValueError as exc:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        status, payload = self._call(route, body, argument, method, path)
        self._send(status, payload)

    def _call(
        self, route: Route, body: dict[str, Any] | None, argument: str, method: str, path: str
    ) -> tuple[HTTPStatus, Any]:
        try:
            return route(self, body, argument)
        except Exception as exc:  # a bug must answer, and say nothing of its insides
            answer = self.error_answer(exc)
            if answer is None:
                log.exception("internal error on %s %s", method, path[:200])
                answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": self.internal_error}
            return answer

    def public(self, method: str, path: str) -> tuple[HTTPStatus, str] | None:
        """An answer (text) for a path served without credentials, else None."""
        return None

    def error_answer(self, exc: Exception) -> tuple[HTTPStatus, Any] | None:
        """(status, payload) for an error a route raised on purpose; None for a bug."""
        return None

    def _route(self, method: str, path: str) -> tuple[Route | None, str]:
        exact = self.routes.get((method, path))
        if exact is not None:
            return exact, ""
        for (route_method, prefix), route in self.prefix_routes.items():
            if method == route_method and path.startswith(prefix) and len(path) > len(prefix):
                return route, unquote(path[len(prefix) :])
        return None, ""

    def _send(
        self,
        status: HTTPStatus,
        payload: Any,
        *,
        content_type: str = "application/json",
        auth_failed: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if auth_failed and status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", f'Bearer realm="{self.realm}"')
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection and "Connection" not in (extra or {}):
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
