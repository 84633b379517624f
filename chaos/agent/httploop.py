"""The connection loop under :class:`chaos.agent.http.JsonServer`: one thread owns every
socket until a whole request (head and body) has arrived, a few worker threads answer.

Why not one thread per connection (``ThreadingHTTPServer``): a client that connects
and sends nothing, or trickles a byte a second, would hold a thread each, so a few
hundred of them stop the agent answering its controller. Here an idle or slow
connection costs a file descriptor and a small buffer; every phase has a deadline
(TLS handshake, idle keep-alive, request head, request body); the number of open
connections and of threads is capped; the bytes held for bodies have a budget. Only
complete requests reach a worker, so a worker is never blocked on a slow client's
reads (its writes have a timeout).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.agent.httpframe import (
    FramingError,
    HttpLimits,
    body_length,
    close,
    head_end,
    parse_head,
    raw_answer,
    refuse,
)
from chaos.agent.httpworkers import WorkerPool

log = logging.getLogger(__name__)

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Phase(enum.Enum):
    HANDSHAKE = "handshake"
    IDLE = "idle"  # no byte of the next request yet
    HEAD = "head"
    BODY = "body"
    BUSY = "busy"  # a worker has it


@dataclass(eq=False)
class Conn:
    sock: socket.socket
    address: tuple[str, int]
    phase: Phase
    deadline: float
    buf: bytearray = field(default_factory=bytearray)
    need: int = 0  # bytes of head + body, known once the head is complete
    reserved: int = 0  # body bytes counted against the budget
    since: float = field(default_factory=time.monotonic)
    eof: bool = False


@dataclass(frozen=True)
class Exchange:
    """One complete request for a worker, or a refusal to send as it is."""

    conn: Conn
    data: bytes
    refusal: bytes | None = None


# a worker's answer: keep the connection open for the next request?
Respond = Callable[[Exchange], bool]


class ConnectionLoop:
    """Accepts, reads and times out connections in the calling thread; workers answer."""

    def __init__(
        self,
        listener: socket.socket,
        *,
        respond: Respond,
        limits: HttpLimits,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._listener = listener
        self._respond = respond
        self._limits = limits
        self._ssl = ssl_context
        self._selector = selectors.DefaultSelector()
        self._conns: set[Conn] = set()
        self._buffered = 0  # body bytes reserved (read by the loop thread only)
        self._returned: queue.SimpleQueue[tuple[Conn, bool]] = queue.SimpleQueue()
        self._workers = WorkerPool(work=self._answer, max_workers=limits.max_workers)
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()

    # ------------------------------------------------------------ loop

    def run(self, *, poll_interval: float, stop: threading.Event) -> None:
        self._listener.setblocking(False)
        self._wake_r.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not stop.is_set():
                for key, _ in self._selector.select(timeout=self._next_timeout(poll_interval)):
                    self._event(key.data)
                self._take_returned()
                self._expire()
        finally:
            self._stop()

    def _event(self, what: object) -> None:
        try:
            if what == "accept":
                self._accept()
            elif what == "wake":
                self._drain_wake()
            elif isinstance(what, Conn):
                self._on_readable(what)
        except Exception:  # a bug on one connection must not stop the agent's API
            log.exception("HTTP connection loop error")
            if isinstance(what, Conn):
                self._close(what)

    def _next_timeout(self, poll_interval: float) -> float:
        """Sleep until the earliest deadline (an idle agent barely wakes; a stop wakes it)."""
        deadlines = [c.deadline for c in self._conns if c.phase is not Phase.BUSY]
        if not deadlines:
            return poll_interval
        return min(poll_interval, max(0.0, min(deadlines) - time.monotonic()) + 0.005)

    def wake(self) -> None:
        # OSError: the pipe is full (the loop wakes anyway) or closed (stopping)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def stats(self) -> dict[str, int]:
        return {"connections": len(self._conns), "workers": len(self._workers)}

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _stop(self) -> None:
        self._stopping.set()
        self._workers.stop()
        for conn in list(self._conns):
            if conn.phase is not Phase.BUSY:
                self._close(conn)
        self._close_returned()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _close_returned(self) -> None:
        while True:
            try:
                conn, _ = self._returned.get_nowait()
            except queue.Empty:
                return
            self._conns.discard(conn)
            close(conn.sock)

    # ------------------------------------------------------------ accept and read

    def _accept(self) -> None:
        for _ in range(64):  # a burst, then let the other sockets have their turn
            try:
                sock, address = self._listener.accept()
            except _WOULD_BLOCK:
                return
            except OSError as exc:  # e.g. out of file descriptors: wait, do not spin
                log.warning("accept failed: %s", exc.strerror)
                time.sleep(0.05)
                return
            if len(self._conns) >= self._limits.max_connections and not self._evict():
                busy = raw_answer(503, "Service Unavailable", "too many connections")
                refuse(sock, b"" if self._ssl is not None else busy)  # no TLS: no answer
                continue
            self._open(sock, address)

    def _open(self, sock: socket.socket, address: tuple[str, int]) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # answers go out whole: never wait for an ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        now = time.monotonic()
        if self._ssl is not None:
            try:
                sock = self._ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ssl.SSLError):
                sock.close()
                return
            conn = Conn(sock, address, Phase.HANDSHAKE, now + self._limits.handshake_timeout_s)
        else:
            conn = Conn(sock, address, Phase.IDLE, now + self._limits.idle_timeout_s)
        self._conns.add(conn)
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _evict(self) -> bool:
        """Close the connection that waited longest without a request in progress (idle
        first, then one still sending its request): no flood of idle or slow connections
        can lock out a new one (a health check, the controller renewing its leases)."""
        idle = [c for c in self._conns if c.phase in (Phase.IDLE, Phase.HANDSHAKE)]
        waiting = idle or [c for c in self._conns if c.phase in (Phase.HEAD, Phase.BODY)]
        if not waiting:
            return False  # every connection is being answered: the agent is busy
        self._close(min(waiting, key=lambda c: c.since))
        return True

    def _on_readable(self, conn: Conn) -> None:
        if conn.phase is Phase.HANDSHAKE and not self._handshake(conn):
            return
        while not conn.eof and conn.phase in (Phase.IDLE, Phase.HEAD, Phase.BODY):
            want = self._want(conn)
            if want <= 0:
                break
            try:
                chunk = conn.sock.recv(min(want, 65536))
            except _WOULD_BLOCK:
                break
            except OSError:
                self._close(conn)
                return
            if not chunk:
                conn.eof = True
                break
            conn.buf += chunk
            self._advance(conn)
        if conn.phase is not Phase.BUSY and conn.eof:
            self._close(conn)

    def _handshake(self, conn: Conn) -> bool:
        assert isinstance(conn.sock, ssl.SSLSocket)
        try:
            conn.sock.do_handshake()
        except _WOULD_BLOCK:
            return False
        except (OSError, ssl.SSLError) as exc:
            log.info("TLS handshake with %s failed: %s", conn.address[0], exc)
            self._close(conn)
            return False
        conn.phase = Phase.IDLE
        conn.since = time.monotonic()
        conn.deadline = conn.since + self._limits.idle_timeout_s
        return True

    def _want(self, conn: Conn) -> int:
        if conn.phase is Phase.BODY:
            return conn.need - len(conn.buf)
        return self._limits.max_head_bytes + 1 - len(conn.buf)

    def _advance(self, conn: Conn) -> None:
        """Move a connection on as far as its buffer allows; hand a complete request over."""
        now = time.monotonic()
        if conn.phase is Phase.IDLE:
            while conn.buf[:2] == b"\r\n":  # RFC 9112 2.2: ignore CRLF before a request
                del conn.buf[:2]
            if not conn.buf:
                return
            conn.phase, conn.deadline = Phase.HEAD, now + self._limits.head_timeout_s
        if conn.phase is Phase.HEAD:
            end = head_end(conn.buf)
            if end < 0:
                if len(conn.buf) > self._limits.max_head_bytes:
                    refusal = raw_answer(431, "Request Header Fields Too Large", "head too large")
                    self._dispatch(conn, 0, refusal)
                return
            self._head_complete(conn, end, now)
        if conn.phase is Phase.BODY and len(conn.buf) >= conn.need:
            self._dispatch(conn, conn.need)

    def _head_complete(self, conn: Conn, end: int, now: float) -> None:
        headers = parse_head(bytes(conn.buf[:end]))
        try:
            length = body_length(headers, max_body=self._limits.max_body_bytes) if headers else 0
        except FramingError:
            length = 0  # the worker answers the error from the same headers and closes
        if self._buffered + length > self._limits.max_buffered_bytes:
            self._dispatch(conn, 0, raw_answer(503, "Service Unavailable", "busy; retry"))
            return
        conn.reserved = length
        self._buffered += length
        conn.need = end + length
        conn.phase, conn.deadline = Phase.BODY, now + self._limits.body_timeout_s
        expect = headers.get("Expect", "") if headers else ""
        if length and len(conn.buf) < conn.need and expect.lower() == "100-continue":
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except (*_WOULD_BLOCK, OSError):
                pass  # the client sends its body after a second anyway

    def _expire(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self._conns if c.phase is not Phase.BUSY and c.deadline <= now]:
            if conn.phase in (Phase.HEAD, Phase.BODY):
                log.info("request from %s timed out in its %s", conn.address[0], conn.phase.value)
                try:
                    conn.sock.send(raw_answer(408, "Request Timeout", "request timed out"))
                except (*_WOULD_BLOCK, OSError):
                    pass
            self._close(conn)

    def _close(self, conn: Conn) -> None:
        self._conns.discard(conn)
        self._buffered -= conn.reserved
        conn.reserved = 0
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        close(conn.sock)

    # ------------------------------------------------------------ workers

    def _dispatch(self, conn: Conn, size: int, refusal: bytes | None = None) -> None:
        self._selector.unregister(conn.sock)
        conn.phase = Phase.BUSY
        data = bytes(conn.buf[:size])
        del conn.buf[:size]
        self._workers.submit(Exchange(conn, data, refusal))

    def _answer(self, exchange: Exchange) -> None:
        """In a worker: answer, then hand the connection back to the loop."""
        keep = False
        try:
            exchange.conn.sock.settimeout(self._limits.write_timeout_s)
            if exchange.refusal is not None:
                exchange.conn.sock.sendall(exchange.refusal)
            else:
                keep = self._respond(exchange)
        except OSError as exc:  # the client went away or stopped reading
            log.info("answering %s failed: %s", exchange.conn.address[0], exc)
        except Exception:  # a bug in a handler: log it, close the connection
            log.exception("answering %s failed", exchange.conn.address[0])
        self._returned.put((exchange.conn, keep))
        self.wake()
        if self._stopping.is_set():  # the loop is gone: close what it would have
            self._close_returned()

    def _take_returned(self) -> None:
        while True:
            try:
                conn, keep = self._returned.get_nowait()
            except queue.Empty:
                return
            self._buffered -= conn.reserved
            conn.reserved = 0
            if not keep or self._stopping.is_set():
                self._close(conn)
                continue
            try:
                self._reopen(conn)
            except Exception:  # e.g. the socket broke meanwhile: close it, go on
                log.exception("HTTP connection loop error")
                self._close(conn)

    def _reopen(self, conn: Conn) -> None:
        """A connection back from a worker waits for its next request (keep-alive)."""
        conn.sock.setblocking(False)
        now = time.monotonic()
        conn.phase, conn.since, conn.deadline = Phase.IDLE, now, now + self._limits.idle_timeout_s
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        if conn.buf:  # a pipelined request already arrived
            self._advance(conn)
        pending = isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending()
        if pending and conn.phase is not Phase.BUSY:  # decrypted bytes select cannot see
            self._on_readable(conn)
