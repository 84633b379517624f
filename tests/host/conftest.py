"""Fixtures for host-driver tests: private network namespaces, servers, tagged processes.

Every network test runs inside two namespaces created here (A with lo up, joined by a
veth to B), never in the host's own; teardown kills the servers it started and
deletes both namespaces even when the test failed.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.host import procfs, procs
from tests.host.netlab import NetPair

ECHO_SERVER = Path(__file__).with_name("echo_server.py")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _wait_listening(pid: int, port: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while port not in procfs.listening_tcp_ports(pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"server {pid} did not listen on {port}")
        time.sleep(0.02)


@pytest.fixture
def netns() -> Iterator[NetPair]:
    suffix = secrets.token_hex(3)
    a, b = f"chaos-t-{suffix}a", f"chaos-t-{suffix}b"
    octet = random.randint(1, 254)
    pair = NetPair(
        a=a, b=b, a_ip=f"10.250.{octet}.1", b_ip=f"10.250.{octet}.2",
        a_dev="veth-a", b_dev="veth-b", a_pid=0, b_pid=0,
        tcp_port=7000, sink_port=7001, udp_port=7002,
    )  # fmt: skip
    servers: list[subprocess.Popen] = []
    try:
        for ns in (a, b):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b)
        for ns, dev, addr in ((a, "veth-a", pair.a_ip), (b, "veth-b", pair.b_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        ports = ["--tcp", "7000", "--sink", "7001", "--udp", "7002"]
        for ns in (a, b):
            argv = ["ip", "netns", "exec", ns, sys.executable, str(ECHO_SERVER), *ports]
            servers.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
        for server in servers:
            _wait_listening(server.pid, 7000)
        yield NetPair(**{**pair.__dict__, "a_pid": servers[0].pid, "b_pid": servers[1].pid})
    finally:
        for server in servers:
            server.kill()
            server.wait()
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def fault_id() -> Iterator[Callable[[], str]]:
    """Make unique fault ids; any process still tagged with one is stopped at teardown."""
    made: list[str] = []

    def make() -> str:
        made.append(f"t-{os.getpid()}-{secrets.token_hex(4)}")
        return made[-1]

    yield make
    for fid in made:
        procs.stop_tagged(fid)
