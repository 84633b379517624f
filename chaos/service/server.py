"""The controller service's server: the ASGI app on uvicorn (h11, one event loop), on a
socket bound before it serves, so the port is known (``:0`` in tests) and a bind failure
is an error at once.

uvicorn runs in whichever thread calls :meth:`ControllerServer.serve_forever`; signals
stay with the caller (``chaos controller serve`` halts its runs first, then calls
:meth:`shutdown`), so uvicorn's own handlers are not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Iterator

import uvicorn

from chaos.service.api import ServiceState, create_app
from chaos.service.limits import GuardedH11Protocol
from chaos.store.repository import RunStore

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller owns SIGTERM/SIGINT


class ControllerServer:
    def __init__(
        self,
        address: tuple[str, int],
        state: ServiceState,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.state = state
        limits = state.limits
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # inherited by every accepted connection: what a client that does not read can pin
        # in the kernel is bounded (autotuning would let each grow to tcp_wmem's 4 MiB)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.send_buffer)
        try:
            self._socket.bind(address)
            self._socket.listen(limits.backlog)
        except OSError:
            self._socket.close()
            raise
        config = uvicorn.Config(
            create_app(state),
            http=GuardedH11Protocol,
            lifespan="off",
            ws="none",
            backlog=limits.backlog,
            timeout_keep_alive=int(max(1, limits.keep_alive_s)),
            limit_concurrency=None,  # GuardedH11Protocol counts requests, not sockets
            h11_max_incomplete_event_size=limits.max_header_bytes,
            server_header=False,
            date_header=False,
            access_log=False,
            log_config=None,
            proxy_headers=False,
            timeout_graceful_shutdown=int(limits.request_read_s + limits.response_write_s),
        )
        config.load()
        config.ssl = ssl_context  # ours: client certificates verified against the CA
        config.chaos_limits = limits  # type: ignore[attr-defined]  # read by the protocol
        self._server = _Server(config)
        self._tls = ssl_context is not None
        self._stopped = threading.Event()

    @property
    def store(self) -> RunStore:
        return self.state.store

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread or a signal handler)."""
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        finally:
            self._stopped.set()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, finish the requests in flight, and return when it has stopped."""
        self._server.should_exit = True
        self._stopped.wait(timeout_s)

    def server_close(self) -> None:
        self._socket.close()
