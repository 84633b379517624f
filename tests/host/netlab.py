"""Helpers for host tests: run code inside a named network namespace, measure traffic.

``in_namespace`` runs a function on a fresh thread that first ``setns``-es into the
namespace: a thread's network namespace is its own, so the test process itself never
leaves the host namespace and no traffic can reach the host's network.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


@dataclass(frozen=True)
class NetPair:
    """Namespace A (where faults go) joined by a veth to namespace B; servers in both."""

    a: str
    b: str
    a_ip: str
    b_ip: str
    a_dev: str
    b_dev: str
    a_pid: int  # the server process in A: the netns_pid faults use
    b_pid: int
    tcp_port: int
    sink_port: int
    udp_port: int


def in_namespace(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside network namespace ``name`` (on a throwaway thread)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name} failed")
            finally:
                os.close(fd)
            outcome["value"] = fn()
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def tcp_outcome(host: str, port: int, *, timeout: float = 0.5) -> str:
    """ "ok", "refused" or "timeout" for one connect + echo to host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"ping")
            return "ok" if sock.recv(4) == b"ping" else "closed"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def udp_loss(host: str, port: int, *, count: int = 400) -> float:
    """Fraction of ``count`` UDP echo requests that got no reply."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    with sock:
        for seq in range(count):
            # a packet dropped by a local OUTPUT rule fails the send with EPERM: lost
            with contextlib.suppress(PermissionError):
                sock.sendto(struct.pack("!I", seq), (host, port))
            time.sleep(0.0003)
        got: set[int] = set()
        sock.settimeout(0.3)
        try:
            while len(got) < count:
                got.add(struct.unpack("!I", sock.recv(64))[0])
        except TimeoutError:
            pass
    return 1 - len(got) / count


def send_throughput(host: str, port: int, *, size: int) -> float:
    """Bits per second to push ``size`` bytes to the sink and get its acknowledgement."""
    payload = bytes(size)
    with socket.create_connection((host, port), timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(struct.pack("!Q", size) + payload)
        assert sock.recv(2) == b"ok"
        return size * 8 / (time.monotonic() - start)


def echo_rtts(host: str, port: int, *, rounds: int) -> list[float]:
    """Round-trip times (s) of small echo exchanges over one connection."""
    rtts = []
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            start = time.monotonic()
            sock.sendall(b"x" * 64)
            got = 0
            while got < 64:
                chunk = sock.recv(64 - got)
                if not chunk:
                    raise ConnectionError("echo server closed the connection")
                got += len(chunk)
            rtts.append(time.monotonic() - start)
    return rtts


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000
