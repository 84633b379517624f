"""The controller service's limits below the routes: how long a client may take to send a
request, how many connections it may hold, how large a body may be.

uvicorn's h11 protocol has an idle (keep-alive) timeout but none for a request that
arrives slowly: a client sending its headers one byte a second holds a connection
forever. :class:`GuardedH11Protocol` adds that bound (the whole request, headers and
body, must arrive within ``request_read_s`` of its first byte or of the connection),
a hard cap on open connections, a cap on requests in flight, and reads the client
certificate of a TLS connection into the request's scope for the role check.

A flood of idle or slow connections must not lock real clients out: at the connection
cap a new connection evicts the oldest one still waiting for its request (an idle or
slowloris connection; one whose request is being served is never evicted), and the
in-flight cap counts requests, not connections (uvicorn's ``limit_concurrency`` counts
both, so 64 idle sockets would answer everyone 503). :class:`BodyCap` counts the bytes a
request body really carries, so no ``Content-Length`` (absent, huge, or a chunked
body that has none) gets more than ``max_body`` bytes past it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

PEER_CERT = "chaos.peer_cert"  # scope key: the client certificate (ssl's dict form), or None


@dataclass(frozen=True)
class HttpLimits:
    """Every bound of the service's HTTP layer (documented in docs/controller.md)."""

    max_body: int = 1 << 20  # bytes of a request body (an experiment's YAML fits 1 MiB)
    request_read_s: float = 10.0  # a request's headers and body, from its first byte
    keep_alive_s: float = 5.0  # an idle connection between two requests
    response_write_s: float = 30.0  # an answer stalled in the buffers (client not reading)
    send_buffer: int = 256 * 1024  # kernel send buffer per connection (no autotuning to 4 MiB)
    max_connections: int = 512  # open at once; beyond, the oldest waiting one is closed
    concurrency: int = 64  # requests in flight (being read or served); more get 503
    backlog: int = 128  # connections the kernel queues before accept()
    max_header_bytes: int = 16 * 1024  # request line and headers


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-read timeout, a connection cap and the peer
    certificate in the scope. Configured through ``config.chaos_limits``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits: HttpLimits = getattr(self.config, "chaos_limits", HttpLimits())
        self._limits = limits
        self._opened = self.loop.time()
        self._read_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > limits.max_connections and not self._evict_waiting():
            log.warning("%d connections busy: closing a new one", len(self.connections))
            transport.close()
            return
        peer_cert = transport.get_extra_info("peercert")  # after the handshake: verified
        inner, tasks = self.app, self.tasks

        async def guarded_app(scope: Any, receive: Any, send: Any) -> None:
            if len(tasks) > limits.concurrency:  # this request's own task is counted
                await answer(send, 503, {"error": "too many requests in flight; retry"})
                return
            scope[PEER_CERT] = peer_cert
            await inner(scope, receive, send)

        self.app = guarded_app
        self._arm_read_timer()

    def pause_writing(self) -> None:
        # the answer does not drain: a client that stopped reading would pin its buffered
        # answer and its connection forever (asyncio's close() waits for the buffer)
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(
                self._limits.response_write_s, self._write_stalled
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_stalled(self) -> None:
        self._write_timer = None
        log.info("aborting a connection that stopped reading its answer")
        self.transport.abort()

    def waiting_for_request(self) -> bool:
        """Open, but no request being read or served: idle, or still sending headers."""
        return self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        )

    def _evict_waiting(self) -> bool:
        waiting = [
            other
            for other in self.connections
            if other is not self
            and isinstance(other, GuardedH11Protocol)
            and not other.transport.is_closing()
            and other.waiting_for_request()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda other: other._opened)
        oldest.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # the first bytes of a new request
            self._arm_read_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._cancel_read_timer()  # the whole request is in (or the connection is done)

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY:
            # answered before the body was read (413, 401): reading the rest only to throw
            # it away would let a client stream forever, so close instead
            self.transport.close()
            return
        super().on_response_complete()

    def _arm_read_timer(self) -> None:
        if self._read_timer is None and not self.transport.is_closing():
            self._read_timer = self.loop.call_later(
                self._limits.request_read_s, self._read_timed_out
            )

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            log.info(
                "closing a connection whose request took over %gs to arrive",
                self._limits.request_read_s,
            )
            self.transport.close()


class BodyCap:
    """ASGI middleware: a request body over ``max_body`` bytes is answered 413 as soon as
    it is known to be (by its Content-Length, or by counting what a chunked body brought),
    and the connection is closed without reading the rest."""

    def __init__(self, app: Any, *, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_body:  # h11 checked: digits only
            return await too_large(send, self.max_body)
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return await too_large(send, self.max_body)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()  # only a disconnect can follow
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def too_large(send: Any, max_body: int) -> None:
    await answer(send, 413, {"error": f"request body over {max_body} bytes"}, close=True)


async def answer(
    send: Any, status: int, payload: dict[str, Any], *, close: bool = False, extra=()
) -> None:
    """A JSON answer sent straight from ASGI middleware (before the routes)."""
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    if close:
        headers.append((b"connection", b"close"))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
