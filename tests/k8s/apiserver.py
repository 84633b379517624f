"""A fake Kubernetes API server that answers with recorded responses, for the official client.

No API server can run on the test machines, so the Kubernetes backends are tested
with the real ``kubernetes`` client talking HTTP to this server on 127.0.0.1. It
serves the responses of ``tests/k8s/recordings/*.json`` and logs every request
(method, path, query, JSON body, content type, credentials) so tests can assert what the
client actually sent: selectors, DeleteOptions, eviction and patch bodies.

The recordings are written by hand in the exact format of the v1 API (PodList,
NodeList, Pod, Node, Status objects), for these tests; they were not captured
from a live cluster here. See ``recordings/README.md``.

A response matches a request when method, path and query are all equal (the
query exactly: a missing or extra selector does not match). Responses are tried
in order; one with ``times`` is used that many times, then the next matching one
is served, so a sequence (a pod Pending, then Ready) is a list of entries. An
unmatched request gets a 404 Status and is kept in ``unmatched``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RECORDINGS = Path(__file__).parent / "recordings"


@dataclass
class Recorded:
    method: str
    path: str
    status: int = 200
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow or hung API server)
    times: int | None = None  # None: for ever
    served: int = 0

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        used_up = self.times is not None and self.served >= self.times
        return not used_up and (self.method, self.path, self.query) == (method, path, query)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    content_type: str
    authorization: str
    at: float  # time.monotonic() on arrival


def not_found_status(method: str, path: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"fake apiserver: no recording for {method} {path}",
        "reason": "NotFound",
        "code": 404,
    }


class FakeApiServer:
    """Serves recordings on 127.0.0.1:<free port> from a thread; use as a context manager."""

    def __init__(self) -> None:
        self.responses: list[Recorded] = []
        self.log: list[Request] = []
        self.unmatched: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def load(self, *names: str) -> FakeApiServer:
        """Add the responses of ``recordings/<name>.json``, in file order."""
        for name in names:
            recording = json.loads((RECORDINGS / f"{name}.json").read_text())
            for response in recording["responses"]:
                self.add(**response)
        return self

    def add(self, **response: Any) -> None:
        with self._lock:
            self.responses.append(Recorded(**response))

    def requests(self, method: str | None = None, path: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def start(self) -> FakeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cut every delayed answer short
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, request: Request) -> tuple[Recorded | None, int, Any]:
        with self._lock:
            self.log.append(request)
            for recorded in self.responses:
                if recorded.matches(request.method, request.path, request.query):
                    recorded.served += 1
                    return recorded, recorded.status, recorded.body
            self.unmatched.append(request)
        return None, 404, not_found_status(request.method, request.path)

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _handler_for(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=url.path,
                query=dict(parse_qsl(url.query, keep_blank_values=True)),
                body=json.loads(raw) if raw else None,
                content_type=self.headers.get("Content-Type", ""),
                authorization=self.headers.get("Authorization", ""),
                at=time.monotonic(),
            )
            recorded, status, body = server.answer(request)
            if recorded is not None and recorded.delay:
                server.wait(recorded.delay)
            payload = json.dumps(body).encode() if body is not None else b""
            # the client may have given up (its timeout): nothing to answer then
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
