"""What every lab service shares: arguments, labels, a JSON HTTP server and client."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socketserver
import urllib.request
from collections.abc import Callable, Sequence
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"

# A route answers (status, JSON body). Routes are plain functions so they read like a
# description of the service, without any HTTP plumbing around them.
Route = Callable[[], tuple[int, dict[str, Any]]]
# A POST route gets the request's JSON body.
PostRoute = Callable[[Any], tuple[int, dict[str, Any]]]
MAX_BODY_BYTES = 64 * 1024

# An http_proxy variable in the environment must never reroute lab traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Variant(StrEnum):
    FRAGILE = "fragile"
    RESILIENT = "resilient"


class UpstreamError(Exception):
    """A call to another service failed: refused, reset, timed out, non-200 or not JSON."""


def parse_args(*, service: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"chaos.lab.services.{service}")
    parser.add_argument("--host", default=LOOPBACK, help="address to listen on")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, help="where the service keeps its files")
    parser.add_argument("--upstream", action="append", default=[], help="base URL; repeatable")
    parser.add_argument("--variant", type=Variant, choices=list(Variant), default=Variant.FRAGILE)
    return parser.parse_args(argv)


def labels_from_env() -> dict[str, str]:
    """CHAOS_LABELS="app=api,replica=0,..." as a dict (the platform reads the same variable)."""
    raw = os.environ.get("CHAOS_LABELS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def fetch_json(url: str, *, timeout: float | None) -> dict[str, Any]:
    """GET a JSON object. ``timeout=None`` waits forever: exactly what the fragile variant does."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # HTTPError (non-2xx), refused, reset, timeout, truncated or non-JSON answers.
        raise UpstreamError(f"GET {url}: {exc!r}") from exc
    if not isinstance(body, dict):
        raise UpstreamError(f"GET {url}: expected a JSON object, got {body!r}")
    return body


class _Server(ThreadingHTTPServer):
    # Daemon threads: a request stuck on a hung upstream must not keep a dying process alive.
    daemon_threads = True
    # socketserver's default backlog is 5: under load a burst of new connections overflows
    # it and the kernel drops SYNs, which clients retry only after 1 s.
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves our own name (getfqdn): inside a lab namespace
        # there is no DNS, and that lookup would hold the listener back for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


def serve(
    *,
    service: str,
    port: int,
    routes: dict[str, Route],
    host: str = LOOPBACK,
    post_routes: dict[str, PostRoute] | None = None,
) -> None:
    """Serve GET routes (plus /health) and JSON POST routes until the process is killed."""
    all_routes: dict[str, Route] = {"/health": lambda: (200, {"ok": True, "service": service})}
    all_routes |= routes
    posts = post_routes or {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = all_routes.get(self.path.split("?")[0])
            self._answer(*(route() if route else (404, {"error": f"no route {self.path}"})))

        def do_POST(self) -> None:
            route = posts.get(self.path.split("?")[0])
            if route is None:
                self._answer(404, {"error": f"no route {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                self._answer(400, {"error": "body is not JSON"})
                return
            self._answer(*route(body))

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the caller gave up (its timeout fired): nothing left to tell it

        def log_message(self, format: str, *args: Any) -> None:
            pass  # load tests send thousands of requests; access logs would fill the disk

    _Server((host, port), Handler).serve_forever()
