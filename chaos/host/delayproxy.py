"""A transparent TCP proxy that delays traffic: the latency fault where netem is missing.

Run inside the target's network namespace behind a nat OUTPUT ``REDIRECT`` (see
``chaos.host.iptables.redirect_rules``)::

    python -m chaos.host.delayproxy --port P --delay-ms D --jitter-ms J --mark M --ttl-s T

For every redirected connection it reads the original destination (``SO_ORIGINAL_DST``),
connects there with ``SO_MARK = M`` (so the redirect rule skips its own traffic), and
relays both ways. Each client→upstream chunk is delivered ``D ± uniform(J)`` after it
arrived, never before an earlier chunk (order is preserved); upstream→client passes
straight, so a request/response round trip gains about ``D``. It exits on SIGTERM,
after ``T`` seconds (a hard cap) and -- the dead-man's switch if the agent dies -- as
soon as its fault's lease ends (its lease file, found through the environment and
re-read every second: see :mod:`chaos.host.lease`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos.host import lease

SO_ORIGINAL_DST = 80  # from linux/netfilter_ipv4.h; not exported by the socket module
SO_MARK = getattr(socket, "SO_MARK", 36)
CHUNK_BYTES = 65536
QUEUE_CHUNKS = 256  # bounds memory per connection; a full queue back-pressures the client
CONNECT_TIMEOUT_S = 10
LEASE_CHECK_S = 1.0


@dataclass(frozen=True)
class ProxyConfig:
    port: int
    delay_s: float
    jitter_s: float
    mark: int
    ttl_s: float


def proxy_argv(
    *,
    port: int,
    delay_ms: float,
    jitter_ms: float,
    mark: int,
    ttl_s: float,
    python: str = sys.executable,
) -> list[str]:
    """The command line that starts this proxy (wrap it with ``in_netns``)."""
    return [
        *[python, "-m", "chaos.host.delayproxy", "--port", str(port)],
        *["--delay-ms", f"{delay_ms:g}", "--jitter-ms", f"{jitter_ms:g}"],
        *["--mark", str(mark), "--ttl-s", f"{ttl_s:g}"],
    ]


def original_dst(sock: socket.socket) -> tuple[str, int]:
    """Where the client meant to connect before REDIRECT rewrote it (IPv4)."""
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


def deliver_at(*, previous: float, arrival: float, delay_s: float, jitter_s: float) -> float:
    """When a chunk may leave: arrival plus a jittered delay, but never before the last one."""
    sample = delay_s + (random.uniform(-jitter_s, jitter_s) if jitter_s else 0.0)
    return max(previous, arrival + max(0.0, sample))


async def _read_into(reader: asyncio.StreamReader, queue: asyncio.Queue, cfg: ProxyConfig) -> None:
    loop = asyncio.get_running_loop()
    last = 0.0
    while True:
        try:
            data: bytes | None = await reader.read(CHUNK_BYTES)
        except OSError:
            data = None  # reset: tell the writer side to abort, in order
        last = deliver_at(
            previous=last, arrival=loop.time(), delay_s=cfg.delay_s, jitter_s=cfg.jitter_s
        )
        await queue.put((last, data))
        if not data:
            return


async def _delayed_pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cfg: ProxyConfig
) -> None:
    """Relay reader→writer, holding each chunk until its delivery time."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)
    feeder = asyncio.create_task(_read_into(reader, queue, cfg))
    try:
        while True:
            when, data = await queue.get()
            await asyncio.sleep(max(0.0, when - loop.time()))
            if data is None:
                raise ConnectionResetError("client connection reset")
            if not data:
                writer.write_eof()
                break
            writer.write(data)
            await writer.drain()
        await feeder
    finally:
        feeder.cancel()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK_BYTES):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _connect_upstream(dst: tuple[str, int], mark: int) -> tuple:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, dst), CONNECT_TIMEOUT_S)
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


async def _handle(
    client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, cfg: ProxyConfig
) -> None:
    sock = client_w.get_extra_info("socket")
    writers = [client_w]
    try:
        dst = original_dst(sock)
        if dst == tuple(sock.getsockname()[:2]):
            return  # not redirected: relaying would connect to ourselves forever
        up_r, up_w = await _connect_upstream(dst, cfg.mark)
        writers.append(up_w)
        tasks = [
            asyncio.create_task(_delayed_pipe(client_r, up_w, cfg)),
            asyncio.create_task(_pipe(up_r, client_w)),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:
            task.cancel()
        for task in done:
            task.exception()  # retrieved, so asyncio does not log it as lost
    except (TimeoutError, OSError):
        pass  # a reset or unreachable upstream ends this connection only
    finally:
        for writer in writers:
            writer.close()


async def serve(cfg: ProxyConfig) -> None:
    """Accept on 0.0.0.0:port until SIGTERM/SIGINT or the TTL runs out."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, cfg), "0.0.0.0", cfg.port, reuse_address=True
    )
    watcher = asyncio.create_task(_stop_when_lease_ends(lease.from_environment(), stop))
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), cfg.ttl_s)
    watcher.cancel()


async def _stop_when_lease_ends(path: Path | None, stop: asyncio.Event) -> None:
    if path is None:
        return
    while not lease.ended(path):
        await asyncio.sleep(LEASE_CHECK_S)
    stop.set()


def parse_args(argv: Sequence[str] | None = None) -> ProxyConfig:
    parser = argparse.ArgumentParser(prog="python -m chaos.host.delayproxy")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--mark", type=int, required=True)
    parser.add_argument("--ttl-s", type=float, required=True)
    args = parser.parse_args(argv)
    if args.delay_ms < 0 or args.jitter_ms < 0 or args.ttl_s <= 0:
        parser.error("delay and jitter must be >= 0 and the TTL > 0")
    return ProxyConfig(
        port=args.port,
        delay_s=args.delay_ms / 1000,
        jitter_s=args.jitter_ms / 1000,
        mark=args.mark,
        ttl_s=args.ttl_s,
    )


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
