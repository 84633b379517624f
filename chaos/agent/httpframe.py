"""HTTP/1.1 framing for the agent's server: the limits, a request's body length read
strictly from its headers, where a head ends, answers sent without a handler, the
JSON body, and the writer that sends an answer in one piece."""

from __future__ import annotations

import contextlib
import io
import json
import socket
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPException, parse_headers
from io import BytesIO
from typing import Any


@dataclass(frozen=True)
class HttpLimits:
    """Every bound the HTTP layer enforces (documented in docs/agent.md, "HTTP limits")."""

    max_connections: int = 256  # open sockets, idle ones included
    max_workers: int = 8  # threads answering complete requests
    backlog: int = 128  # listen() queue
    handshake_timeout_s: float = 5.0  # TLS handshake
    idle_timeout_s: float = 15.0  # keep-alive wait for the next request's first byte
    head_timeout_s: float = 5.0  # first byte to the end of the request head
    body_timeout_s: float = 10.0  # end of the head to the end of the body
    write_timeout_s: float = 10.0  # sending one answer
    max_head_bytes: int = 16 << 10  # request line and headers
    max_body_bytes: int = 1 << 20
    max_buffered_bytes: int = 8 << 20  # bodies held at once, over every connection
    max_json_depth: int = 32


class FramingError(ValueError):
    """A request whose body length cannot be trusted; answered with ``status``, then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def body_length(headers: Message, *, max_body: int) -> int:
    """The body's length from the headers, strictly: digits only, one value, within the cap.

    No Transfer-Encoding (a chunked body has no length known in advance, so it could
    not be capped before it is read) and no Content-Length means no body (RFC 9112 6.3).
    """
    if headers.get_all("Transfer-Encoding"):
        raise FramingError(411, "Transfer-Encoding is not accepted: send Content-Length")
    values = {value.strip() for value in headers.get_all("Content-Length") or ()}
    if not values:
        return 0
    if len(values) > 1:
        raise FramingError(400, "Content-Length: conflicting values")
    (value,) = values
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise FramingError(400, "Content-Length must be a decimal number of bytes")
    length = int(value)
    if length > max_body:
        raise FramingError(413, f"Content-Length: the body may be at most {max_body} bytes")
    return length


def raw_answer(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer with a JSON error, closing the connection."""
    body = ('{"error": "' + message + '"}').encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    )
    if status == 503:
        head += "Retry-After: 1\r\n"
    return (head + "\r\n").encode() + body


def head_end(buf: bytearray) -> int:
    """Index just past the blank line that ends the head, or -1."""
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends, default=-1)


def parse_head(head: bytes) -> Message | None:
    """The headers as ``http.server`` will parse them, None if it will refuse the head."""
    stream = BytesIO(head)
    stream.readline()  # the request line
    try:
        return parse_headers(stream)
    except (HTTPException, ValueError):
        return None


def refuse(sock: socket.socket, answer: bytes) -> None:
    """Answer a connection the server will not serve, without blocking, and close it."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        if answer:
            sock.send(answer)
    close(sock)


def close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def json_object(raw: bytes, *, max_depth: int) -> dict[str, Any]:
    """A request body as a JSON object: no NaN/Infinity, nested at most ``max_depth``
    levels; an empty body is ``{}``. ValueError says what is wrong, briefly."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise ValueError(f"invalid JSON: {_short(exc)}") from None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    if _depth(body) > max_depth:
        raise ValueError(f"invalid JSON: nested deeper than {max_depth} levels")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a number JSON allows")


def _short(exc: ValueError) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:120] + "..."


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


class SocketWriter(io.BufferedIOBase):
    """Collects an answer and sends it with one ``sendall`` when flushed (at the end of
    the request): head and body in one segment, so the client's delayed ACK and Nagle's
    algorithm cannot add 40 ms to every answer. The socket's write timeout applies."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        if self._parts:
            data, self._parts = b"".join(self._parts), []
            self._sock.sendall(data)
