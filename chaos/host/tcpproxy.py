"""A small Toxiproxy-style TCP proxy: named links, "toxics" on them, a JSON control API.

Every service-to-service call in the lab goes through one *link* of this proxy, so the
platform can add latency or partition a link without root, iptables or netem.

Threading model: all link state lives on one asyncio loop running in a background
thread. The control API (a ``ThreadingHTTPServer``) never touches that state directly;
it hands each operation to the loop with ``run_coroutine_threadsafe``, so no locks are
needed and a toxic change is seen atomically by every connection.

This module is the data path (links, toxics applied to connections, delayed delivery);
the control API's HTTP server and toxic parsing are in ``chaos.host.proxyapi``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

# The toxic model and errors live with the API that parses them; importable from here too.
from chaos.host.proxyapi import (
    PARTITION_MODES,
    ControlServer,
    Toxic,
    ToxicError,
    UnknownLinkError,
    parse_toxic,
)

__all__ = [
    "CHUNK_BYTES",
    "EXPIRY_SWEEP_S",
    "LOOPBACK",
    "PARTITION_MODES",
    "LinkSpec",
    "ProxyServer",
    "Toxic",
    "ToxicError",
    "UnknownLinkError",
    "parse_toxic",
]

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 65536
EXPIRY_SWEEP_S = 0.05  # how often TTLs are checked: bounds how late a toxic can outlive its TTL
T = TypeVar("T")


@dataclass(frozen=True)
class LinkSpec:
    """One proxied hop: clients of ``client`` reach ``server_instance`` via ``listen_port``."""

    name: str
    listen_port: int
    upstream_host: str
    upstream_port: int
    client: str
    server: str
    server_instance: str


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with SO_LINGER 0 so the peer gets a RST: a refused, not a quiet, connection."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """Runtime state of one link; only ever touched on the proxy's event loop."""

    def __init__(self, spec: LinkSpec) -> None:
        self.spec = spec
        self.toxics: dict[str, Toxic] = {}
        self.flowing = asyncio.Event()  # cleared while a "drop" partition holds all data
        self.flowing.set()
        self.connections: set[_Connection] = set()
        self.server: asyncio.Server | None = None

    def partition_mode(self) -> str | None:
        modes = {t.mode for t in self.toxics.values() if t.type == "partition"}
        return "reject" if "reject" in modes else ("drop" if modes else None)

    def latency_sample_s(self) -> float:
        """One delay sample: each latency toxic adds delay ± uniform(jitter), never below 0."""
        total_ms = 0.0
        for toxic in self.toxics.values():
            if toxic.type == "latency":
                jitter = random.uniform(-toxic.jitter_ms, toxic.jitter_ms)
                total_ms += max(0.0, toxic.delay_ms + jitter)
        return total_ms / 1000.0

    def refresh(self) -> None:
        """Make open connections obey the current toxics."""
        mode = self.partition_mode()
        if mode == "drop":
            self.flowing.clear()
        else:
            self.flowing.set()
        if mode == "reject":
            for connection in list(self.connections):
                connection.reset()

    def describe(self, *, now: float) -> dict[str, Any]:
        # vars() of the frozen spec: every LinkSpec field, in declaration order.
        return {**vars(self.spec), "toxics": [t.describe(now=now) for t in self.toxics.values()]}


class _Connection:
    """One client connection and its upstream, pumping bytes both ways under the toxics."""

    def __init__(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.link = link
        self.client_reader, self.client_writer = reader, writer
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.task = asyncio.current_task()

    def reset(self) -> None:
        _reset(self.client_writer)
        _reset(self.upstream_writer)
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        # A blackholed link accepts the connection but does not even reach upstream.
        await self.link.flowing.wait()
        spec = self.link.spec
        try:
            up_reader, self.upstream_writer = await asyncio.open_connection(
                spec.upstream_host, spec.upstream_port
            )
        except OSError:
            _reset(self.client_writer)  # like a dead pod behind a Service: the caller sees it
            return
        request = asyncio.create_task(self._pump_request(self.upstream_writer))
        response = asyncio.create_task(self._pump_response(up_reader))
        try:
            done, _ = await asyncio.wait({request, response}, return_when=asyncio.FIRST_COMPLETED)
            # A client that half-closed after its request still waits for the response.
            if done == {request} and request.exception() is None:
                await response
        finally:
            for task in (request, response):
                task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: a reset peer is routine, not worth a warning

    async def _pump_request(self, upstream: asyncio.StreamWriter) -> None:
        while data := await self.client_reader.read(CHUNK_BYTES):
            await self.link.flowing.wait()
            upstream.write(data)
            await upstream.drain()
        await self.link.flowing.wait()
        if upstream.can_write_eof():
            upstream.write_eof()

    async def _pump_response(self, upstream: asyncio.StreamReader) -> None:
        """Stamp each chunk with a deliver-at time on arrival, so delays never accumulate."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        deliver = asyncio.create_task(self._deliver(queue))
        deliver_at = 0.0
        try:
            while data := await upstream.read(CHUNK_BYTES):
                # max() keeps order: a small jitter sample must not overtake an earlier chunk.
                deliver_at = max(deliver_at, loop.time() + self.link.latency_sample_s())
                queue.put_nowait((deliver_at, data))
            queue.put_nowait(None)
            await deliver
        finally:
            deliver.cancel()

    async def _deliver(self, queue: asyncio.Queue[tuple[float, bytes] | None]) -> None:
        loop = asyncio.get_running_loop()
        while (item := await queue.get()) is not None:
            deliver_at, data = item
            if (wait_s := deliver_at - loop.time()) > 0:
                await asyncio.sleep(wait_s)
            await self.link.flowing.wait()
            self.client_writer.write(data)
            await self.client_writer.drain()


async def _call_sync(fn: Callable[[], T]) -> T:
    return fn()


class ProxyServer:
    """Hosts many links on one event loop thread plus the control API on its own port."""

    def __init__(self, *, links: Iterable[LinkSpec], control_port: int, host: str = LOOPBACK):
        self._specs = list(links)
        self._host = host
        self._control_port = control_port
        self._links: dict[str, _Link] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._api: ControlServer | None = None

    @property
    def control_url(self) -> str:
        return f"http://{self._host}:{self._control_port}"

    def start(self) -> None:
        """Bind every link and the control port; raises OSError (e.g. port busy) and cleans up."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcpproxy", daemon=True)
        self._thread.start()
        try:
            self._call(self._open_links())
            self._api = ControlServer.start(self, host=self._host, port=self._control_port)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._close_links())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._thread = None

    # Thread-safe operations: each one runs on the loop, so it sees and changes state atomically.

    def describe_links(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return self._run(lambda: [link.describe(now=now) for link in self._links.values()])

    def put_toxic(self, *, link: str, toxic_id: str, raw: object) -> None:
        toxic = parse_toxic(toxic_id=toxic_id, raw=raw, now=time.monotonic())

        def apply() -> None:
            target = self._link(link)
            target.toxics[toxic_id] = toxic
            target.refresh()

        self._run(apply)

    def delete_toxic(self, *, link: str, toxic_id: str) -> bool:
        def remove() -> bool:
            target = self._link(link)
            removed = target.toxics.pop(toxic_id, None) is not None
            target.refresh()
            return removed

        return self._run(remove)

    def delete_all_toxics(self) -> int:
        def remove_all() -> int:
            count = 0
            for target in self._links.values():
                count += len(target.toxics)
                target.toxics.clear()
                target.refresh()
            return count

        return self._run(remove_all)

    def _link(self, name: str) -> _Link:
        try:
            return self._links[name]
        except KeyError:
            raise UnknownLinkError(f"unknown link {name!r}") from None

    def _run(self, fn: Callable[[], T]) -> T:
        if self._loop is None:  # check first: never create a coroutine that is not awaited
            raise RuntimeError("proxy is not running")
        return self._call(_call_sync(fn))

    def _call(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("proxy is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _open_links(self) -> None:
        for spec in self._specs:
            link = _Link(spec)
            link.server = await asyncio.start_server(
                lambda r, w, link=link: self._serve_client(link, r, w), self._host, spec.listen_port
            )
            self._links[spec.name] = link
        asyncio.get_running_loop().create_task(self._expire_toxics())

    async def _close_links(self) -> None:
        for link in self._links.values():
            for connection in list(link.connections):
                connection.reset()
            if link.server is not None:
                link.server.close()
        # Let every task (connections, the TTL sweeper) finish before the loop stops.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve_client(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if link.partition_mode() == "reject":
            _reset(writer)
            return
        connection = _Connection(link, reader, writer)
        link.connections.add(connection)
        try:
            await connection.run()
        except (OSError, asyncio.CancelledError):
            pass  # a reset peer or a "reject" toxic: closing below is all there is to do
        finally:
            link.connections.discard(connection)
            for w in (writer, connection.upstream_writer):
                if w is not None:
                    w.close()

    async def _expire_toxics(self) -> None:
        """The dead-man's switch: a toxic whose TTL passed is removed, controller or not."""
        while True:
            now = time.monotonic()
            for link in self._links.values():
                expired = [
                    k for k, t in link.toxics.items() if t.expires_at and t.expires_at <= now
                ]
                for toxic_id in expired:
                    del link.toxics[toxic_id]
                if expired:
                    link.refresh()
            await asyncio.sleep(EXPIRY_SWEEP_S)
