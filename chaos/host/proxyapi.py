"""The TCP proxy's JSON control API: toxics as the API sees them, and the HTTP server.

``GET /health``, ``GET /links``, ``PUT|DELETE /links/{name}/toxics/{id}``,
``DELETE /toxics``. The server runs in its own thread (a ``ThreadingHTTPServer``) and
never touches link state itself: every operation goes through :class:`ProxyControl`,
which ``chaos.host.tcpproxy.ProxyServer`` implements on its event loop.

This module does not import ``chaos.host.tcpproxy`` (the proxy imports it): the errors
and the :class:`Toxic` model live here because they are what the API parses and maps
to status codes, and the proxy reuses them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote

PARTITION_MODES = ("drop", "reject")


class ToxicError(ValueError):
    """A toxic definition is invalid (unknown type, negative delay, bad mode...)."""


class UnknownLinkError(LookupError):
    """No link with that name exists on this proxy."""


@dataclass(frozen=True)
class Toxic:
    """One active fault on a link. ``expires_at`` is on the ``time.monotonic()`` clock."""

    id: str
    type: str
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    mode: str = ""
    ttl_s: float | None = None
    expires_at: float | None = None

    def describe(self, *, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "type": self.type, "ttl_s": self.ttl_s}
        if self.type == "latency":
            body |= {"delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms}
        else:
            body["mode"] = self.mode
        body["expires_in_s"] = None if self.expires_at is None else max(0.0, self.expires_at - now)
        return body


def _non_negative(raw: dict[str, Any], key: str, default: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToxicError(f"{key} must be a number, got {value!r}")
    if value < 0:
        raise ToxicError(f"{key} must not be negative, got {value}")
    return float(value)


def _latency_fields(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "delay_ms": _non_negative(raw, "delay_ms"),
        "jitter_ms": _non_negative(raw, "jitter_ms", 0),
    }


def _partition_fields(raw: dict[str, Any]) -> dict[str, Any]:
    mode = raw.get("mode", "drop")
    if mode not in PARTITION_MODES:
        raise ToxicError(f"partition mode must be one of {PARTITION_MODES}, got {mode!r}")
    return {"mode": mode}


_TOXIC_FIELDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "latency": _latency_fields,
    "partition": _partition_fields,
}


def parse_toxic(*, toxic_id: str, raw: object, now: float) -> Toxic:
    """Validate a toxic from the control API; raises ToxicError and changes nothing."""
    if not isinstance(raw, dict):
        raise ToxicError("a toxic must be a JSON object")
    kind = raw.get("type")
    fields_of = _TOXIC_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields_of is None:
        raise ToxicError(f"unknown toxic type {kind!r}; expected one of {sorted(_TOXIC_FIELDS)}")
    ttl = None if raw.get("ttl_s") is None else _non_negative(raw, "ttl_s")
    expires_at = None if ttl is None else now + ttl
    return Toxic(id=toxic_id, type=kind, ttl_s=ttl, expires_at=expires_at, **fields_of(raw))


class ProxyControl(Protocol):
    """The thread-safe operations the control API calls (``ProxyServer`` has them)."""

    def describe_links(self) -> list[dict[str, Any]]: ...

    def put_toxic(self, *, link: str, toxic_id: str, raw: object) -> None: ...

    def delete_toxic(self, *, link: str, toxic_id: str) -> bool: ...

    def delete_all_toxics(self) -> int: ...


class ControlServer:
    """The control API bound to its port and served from a daemon thread."""

    def __init__(self, http: ThreadingHTTPServer) -> None:
        self._http = http

    @classmethod
    def start(cls, proxy: ProxyControl, *, host: str, port: int) -> ControlServer:
        """Bind, then serve; raises OSError (e.g. port busy) before any thread starts."""
        http = ThreadingHTTPServer((host, port), _handler_for(proxy))
        http.daemon_threads = True
        threading.Thread(
            target=http.serve_forever, args=(0.1,), name="tcpproxy-api", daemon=True
        ).start()
        return cls(http)

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _handler_for(proxy: ProxyControl) -> type[BaseHTTPRequestHandler]:
    """The control API: GET /health, GET /links, PUT|DELETE /links/{name}/toxics/{id},
    DELETE /toxics. Path segments are URL-unquoted (link names contain "->")."""

    class ControlHandler(BaseHTTPRequestHandler):
        server_version = "chaos-tcpproxy/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the control API is polled often; access logs would drown the lab logs

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
            try:
                status, body = 200, self._route(method, parts)
            except UnknownLinkError as exc:
                status, body = 404, {"error": str(exc)}
            except (ToxicError, ValueError) as exc:
                status, body = 400, {"error": str(exc)}
            except LookupError:
                status, body = 404, {"error": f"no route for {method} {self.path}"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _route(self, method: str, parts: list[str]) -> Any:
            if len(parts) == 4 and parts[0] == "links" and parts[2] == "toxics":
                link, toxic_id = parts[1], parts[3]
                if method == "PUT":
                    proxy.put_toxic(link=link, toxic_id=toxic_id, raw=self._json_body())
                    return {"applied": True}
                if method == "DELETE":
                    return {"removed": proxy.delete_toxic(link=link, toxic_id=toxic_id)}
            simple: dict[tuple[str, str], Callable[[], Any]] = {
                ("GET", "health"): lambda: {"ok": True},
                ("GET", "links"): proxy.describe_links,
                ("DELETE", "toxics"): lambda: {"removed": proxy.delete_all_toxics()},
            }
            handler = simple.get((method, "/".join(parts)))
            if handler is None:
                raise LookupError(self.path)
            return handler()

        def _json_body(self) -> object:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                return json.loads(self.rfile.read(length) or b"null")
            except json.JSONDecodeError as exc:
                raise ToxicError(f"body is not valid JSON: {exc}") from exc

    return ControlHandler
