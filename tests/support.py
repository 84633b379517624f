"""Helpers shared by tests: free loopback ports, waiting, process liveness, the CLI in a
subprocess."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_lab_id(prefix: str) -> str:
    """A lab id for this test process whose netns /24 no lab routes right now.

    A lab's subnet is one of 256, from a hash of its id: two labs alive at once (a
    module's shared lab and a test's own) collide one time in 256, and the second
    ``lab up`` is then refused ("already routed"). Process labs have no subnet; any id
    this returns suits them too.
    """
    from chaos.lab.netns_plan import lab_subnet

    try:
        argv = ["ip", "-4", "route"]
        listed = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:  # no iproute2: no netns lab either
        listed = ""
    routed = {line.split()[0] for line in listed.splitlines() if line.strip()}
    for n in range(256):
        lab_id = f"{prefix}-{os.getpid()}" + (f"-{n}" if n else "")
        if str(lab_subnet(lab_id)) not in routed:
            return lab_id
    raise RuntimeError("every lab subnet is routed")


def free_base_port(span: int = 16) -> int:
    """A base port whose whole range (base .. base+span-1) is free on 127.0.0.1 right now.

    Chosen below the kernel's ephemeral range (32768+) so outgoing connections of
    other tests cannot take a port of the plan between this check and its use.
    """
    for _ in range(100):
        base = random.randrange(20000, 32000, 20)
        sockets = []
        try:
            for port in range(base, base + span):
                sock = socket.socket()
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range found")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def write_experiment(
    path: Path,
    *,
    targets: str,
    probes: str,
    method: str,
    phases: str,
    interval: str | None = None,
    extra: str = "",
) -> Path:
    """An experiment file named after ``path``; the sections are YAML already indented for
    their place (targets and method by 4, probes by 6), ``phases`` a flow mapping."""
    steady = f"    interval: {interval}\n" if interval else ""
    path.write_text(
        f"""\
apiVersion: chaos/v1
kind: Experiment
metadata: {{name: {path.stem}}}
spec:
  targets:
{targets}
  steadyState:
{steady}    probes:
{probes}
  phases: {phases}
  method:
{method}
{extra}"""
    )
    return path


@contextmanager
def tmpfs(where: Path, options: str = "size=16m") -> Iterator[Path]:
    """A tmpfs of the test's own at ``where`` (made if missing; needs root), unmounted
    on the way out, also when the test fails. ``options="ro,size=1m"``: a file system
    nobody can write to, root included (root ignores permission bits)."""
    where.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@contextmanager
def http_server(
    handler: type[BaseHTTPRequestHandler], server_class: type[ThreadingHTTPServer] | None = None
) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (a free port) in a thread; its base URL, stopped
    on the way out."""
    server = (server_class or ThreadingHTTPServer)(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chaos_env(*, home: Path | None = None, db: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any ``CHAOS_*`` setting (a developer's own
    store, lab or token never leaks into a test), plain output 200 columns wide, then
    ``CHAOS_HOME``/``CHAOS_DB`` when given and ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOS_")}
    env.update(NO_COLOR="1", COLUMNS="200")
    if home is not None:
        env["CHAOS_HOME"] = str(home)
    if db is not None:
        env["CHAOS_DB"] = db
    return {**env, **extra}


def run_chaos(
    *args: str, env: dict[str, str], timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m chaos ARGS`` in a subprocess, output captured, its exit code left to
    the caller."""
    return subprocess.run(
        [sys.executable, "-m", "chaos", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
