"""JSON over HTTP(S) on the standard library's threading server, with bearer-token
and mutual-TLS authentication: the agent API and the controller service share it.

Why the standard library: the agent runs on every node, so its footprint
matters more than its throughput (a handful of requests per fault). No web
framework, no event loop: ``http.server`` with one thread per connection,
HTTP/1.1 keep-alive so a client reuses one connection, and ``ssl`` for mutual
TLS with the handshake in the connection's own thread.
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

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20


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


class JsonServer(ThreadingHTTPServer):
    """A threading HTTP(S) server whose handler answers JSON routes behind ``auth``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[JsonHandler],
        *,
        auth: Auth,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.auth = auth
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    def on_unauthorized(self) -> None:
        """Called for each refused request (subclasses count them)."""

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


Route = Callable[["JsonHandler", dict[str, Any] | None, str], tuple[HTTPStatus, Any]]


@dataclass(frozen=True)
class TextAnswer:
    """A route's answer that is not JSON (a report), sent as it is with its content type."""

    text: str
    content_type: str


class JsonHandler(BaseHTTPRequestHandler):
    """Routes ``(method, path)`` and ``(method, prefix)`` to methods returning (status, JSON).

    Subclasses set ``routes``/``prefix_routes``, may answer unauthenticated paths in
    ``public`` and map their own errors in ``error_answer``.
    """

    protocol_version = "HTTP/1.1"
    server: JsonServer
    server_version = f"chaos/{__version__}"
    realm = "chaos"
    routes: dict[tuple[str, str], Route] = {}
    prefix_routes: dict[tuple[str, str], Route] = {}

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
        public = self.public(method, path)
        if public is not None:
            return self._send(public[0], public[1], content_type="text/plain")
        route, argument = self._route(method, path)
        if route is None:
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"no route {method} {path}"})
        refused = self.server.auth.check(self)
        if refused is not None:
            self.server.on_unauthorized()
            self._drain_body()
            return self._send(refused[0], {"error": refused[1]}, auth_failed=True)
        try:
            body = self._read_json() if method == "POST" else None
        except ValueError as exc:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        try:
            status, payload = route(self, body, argument)
        except Exception as exc:  # a bug must answer, not kill the connection thread
            answer = self.error_answer(exc)
            if answer is None:
                log.exception("internal error on %s %s", method, path)
                answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": repr(exc)}
            status, payload = answer
        if isinstance(payload, TextAnswer):
            return self._send(status, payload.text, content_type=payload.content_type)
        self._send(status, payload)

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
            self.send_header("WWW-Authenticate", f'Bearer realm="{self.realm}"')
        self.end_headers()
        self.wfile.write(data)
