"""The controller's end of the Locust pipe, fed by hand: real pipe, real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.load.stream import LocustChild, LocustStream
from tests.support import wait_for


def child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


@pytest.fixture
def popens() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for popen in started:
        if popen.poll() is None:
            popen.kill()
        popen.wait()


def open_stream(children: list[LocustChild]) -> tuple[LocustStream, int, list[tuple[object, ...]]]:
    read_fd, write_fd = os.pipe()
    got: list[tuple[object, ...]] = []
    stream = LocustStream(
        read_fd,
        children,
        on_window=lambda window: got.append(("window", window.second, window.requests)),
        on_ready=lambda ready: got.append(("ready", ready.users, ready.workers)),
        on_problem=lambda reason: got.append(("problem", reason.splitlines()[0])),
    )
    stream.start()
    return stream, write_fd, got


def test_lines_become_callbacks_in_order_and_the_masters_exit_ends_the_stream(
    tmp_path: Path, popens: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "locust-master.log"
    log.write_text("RuntimeError: boom\n", encoding="utf-8")
    popens.append(master := child("raise SystemExit(3)"))
    stream, write_fd, got = open_stream([LocustChild("master", master, log)])

    os.write(write_fd, b'{"type":"window","second":5,"requests":2,"failu')
    time.sleep(0.05)  # a line split across two reads is put back together
    os.write(
        write_fd,
        b'res":0,"histogram":{"1000":2},"errors":{},"users":1}\n'
        b"not json\n"
        b'{"type":"mystery"}\n'
        b'{"type":"ready","users":3,"workers":0}\n'
        b'{"type":"error","message":"no users"}\n',
    )
    os.close(write_fd)
    stream.join(time.monotonic() + 10)

    assert got == [
        ("window", 5, 2),
        ("ready", 3, 0),
        ("problem", "Locust reported: no users"),
        ("problem", "Locust master exited with code 3: RuntimeError: boom"),
    ], "malformed and unknown lines are skipped"


def test_a_local_worker_that_exits_is_a_problem_while_the_master_runs(
    tmp_path: Path, popens: list[subprocess.Popen[bytes]]
) -> None:
    popens.append(master := child("import time; time.sleep(60)"))
    children = [LocustChild("master", master, tmp_path / "master.log")]
    stream, write_fd, got = open_stream(children)
    popens.append(worker := child("raise SystemExit(2)"))
    children.append(LocustChild("worker 1", worker, tmp_path / "worker-1.log"))  # after start

    wait_for(lambda: bool(got), timeout=10, what="the worker's exit")
    master.kill()
    os.close(write_fd)
    stream.join(time.monotonic() + 10)

    assert got == [
        ("problem", "Locust worker 1 exited with code 2"),
        ("problem", "Locust master exited with code -9 (SIGKILL)"),
    ], "each exit reported once"
