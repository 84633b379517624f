"""Locust as a subprocess of the controller: start it, stream its windows, stop it.

Locust is never imported here (it patches the whole process with gevent): the Locust
processes run ``python -m chaos.load.main`` and write JSON lines (see
:mod:`chaos.load.plugin` for the protocol) to a pipe this module reads. The commands,
one per shape (standalone, or a master with local and remote workers), and the
locustfile of built-in tasks come from the pure builders of :mod:`chaos.load.argv`.

Every process starts in its own session and is only ever signalled by its PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.errors import LoadError
from chaos.load.argv import (
    builtin_locustfile_source,
    master_address,
    master_argv,
    remote_worker_argv,
    standalone_argv,
    worker_argv,
)
from chaos.load.stats import LoadWindow
from chaos.spec.models import LoadSpec

FD_ENV = "CHAOS_LOAD_FD"  # same names as in chaos.load.plugin, which cannot be imported here
RAW_LOG_ENV = "CHAOS_LOAD_RAW_LOG"
BUILTIN_LOCUSTFILE = "chaos_builtin_locustfile.py"
LOG_TAIL_LINES = 20
WATCH_INTERVAL_S = 0.2
STANDALONE = "standalone"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding ``chaos/``

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadReady:
    """Locust reported every user running (and every expected worker connected)."""

    users: int
    workers: int
    started_at: float  # time.time() when the controller heard it


# ---------------------------------------------------------------- diagnostics


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 64 * 1024))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def describe_exit(role: str, code: int | None, log: Path) -> str:
    """Why a Locust process ended, with the error it printed and the end of its log."""
    who = f"Locust {role}" if role != STANDALONE else "Locust"
    if code is None:
        what = f"{who} stopped streaming windows"
    elif code < 0:
        what = f"{who} exited with code {code} ({signal.Signals(-code).name})"
    else:
        what = f"{who} exited with code {code}"
    tail = log_tail(log)
    errors = [line for line in tail if ERROR_LINE.match(line)]
    if errors:
        what += f": {errors[-1]}"
    return with_log(what, log, tail)


def with_log(message: str, log: Path, tail: list[str] | None = None) -> str:
    tail = log_tail(log) if tail is None else tail
    if not tail:
        return message
    return f"{message}\n--- last lines of {log} ---\n" + "\n".join(tail)


LINE_TYPES: dict[str, Callable[[dict[str, Any]], LoadWindow | LoadReady | str]] = {
    "window": LoadWindow.from_json,
    "ready": lambda line: LoadReady(int(line["users"]), int(line["workers"]), time.time()),
    "error": lambda line: str(line["message"]),
}


# ---------------------------------------------------------------- the process manager


@dataclass(frozen=True)
class _Locust:
    role: str  # STANDALONE, "master", "worker 1", ...
    popen: subprocess.Popen[bytes]
    log: Path


class LoadProcess:
    """One experiment's Locust processes and the stream of their windows.

    ``on_window`` and ``on_failure`` run on a thread of their own, never on the one
    reading the pipe, so a slow callback cannot fill the pipe up; keep them quick all
    the same, the next window waits for them. Windows flow from the plugin's start,
    ramp-up seconds included, and the same second may come twice (see
    :mod:`chaos.load.plugin`). ``on_failure`` is called at most once, only after
    :meth:`start` returned, and never once :meth:`stop` has been called.
    """

    def __init__(
        self,
        spec: LoadSpec,
        *,
        experiment_dir: Path,
        workdir: Path,
        on_window: Callable[[LoadWindow], None],
        on_failure: Callable[[str], None],
        raw_log_dir: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self.spec = spec
        self.experiment_dir = experiment_dir
        self.workdir = workdir
        self._on_window = on_window
        self._on_failure = on_failure
        self._raw_log_dir = raw_log_dir
        self._python = python
        self._processes: list[_Locust] = []
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._outcome = threading.Event()  # ready, or failed before ready
        self._ready: LoadReady | None = None
        self._start_failure: str | None = None
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._failed = False
        self._stop_requested = False
        self._stopped = False
        self._threads: list[threading.Thread] = []

    @property
    def pids(self) -> list[int]:
        return [locust.popen.pid for locust in self._processes]

    # ------------------------------------------------------------ start

    def start(self) -> LoadReady:
        """Start Locust; return once every user runs. Raises LoadError (and cleans up)."""
        if self._processes:
            raise LoadError("this Locust load was already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._launch(self._locustfile())
        except (OSError, LoadError) as exc:
            self._abort()
            if isinstance(exc, LoadError):
                raise
            raise LoadError(f"could not start Locust: {exc}") from exc
        if not self._outcome.wait(self.spec.ready_timeout):
            self._start_failure = with_log(self._not_ready_message(), self._processes[0].log)
        if self._ready is None:
            self._abort()
            raise LoadError(f"Locust could not start: {self._start_failure}")
        return self._ready

    def _not_ready_message(self) -> str:
        message = (
            f"Locust did not report all {self.spec.users} users running within "
            f"{self.spec.ready_timeout:g}s"
        )
        if self.spec.remote_workers:
            host, port = self.spec.master_bind.rsplit(":", 1)
            command = " ".join(remote_worker_argv("<this host>", int(port)))
            message += (
                f"; it waits for {self.spec.remote_workers} remote worker(s) on {host}:{port}, "
                f"started elsewhere with: {command}"
            )
        return message

    def _locustfile(self) -> Path:
        if self.spec.locustfile is not None:
            path = (self.experiment_dir / self.spec.locustfile).resolve()
            if not path.is_file():
                raise LoadError(f"locustfile not found: {path}")
            return path
        path = self.workdir / BUILTIN_LOCUSTFILE
        path.write_text(builtin_locustfile_source(self.spec), encoding="utf-8")
        return path

    def _launch(self, locustfile: Path) -> None:
        address = master_address(self.spec)
        read_fd, write_fd = os.pipe()
        try:
            if address is None:
                argv = standalone_argv(self.spec, python=self._python, locustfile=locustfile)
                self._spawn(STANDALONE, argv, "locust.log", pipe_fd=write_fd)
            else:
                argv = master_argv(
                    self.spec, python=self._python, locustfile=locustfile, address=address
                )
                self._spawn("master", argv, "locust-master.log", pipe_fd=write_fd)
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the master holds the only write end: its exit means EOF
        self._start_threads(read_fd)
        if address is None:
            return
        for index in range(1, self.spec.workers + 1):
            argv = worker_argv(
                python=self._python,
                locustfile=str(locustfile),
                master_host=address.connect_host,
                master_port=address.port,
            )
            self._spawn(f"worker {index}", argv, f"locust-worker-{index}.log")

    def _spawn(self, role: str, argv: list[str], log_name: str, *, pipe_fd: int = -1) -> None:
        env = {key: value for key, value in os.environ.items() if key not in (FD_ENV, RAW_LOG_ENV)}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")])
        )
        env["PYTHONUNBUFFERED"] = "1"  # log tails in error messages must be current
        if pipe_fd >= 0:
            env[FD_ENV] = str(pipe_fd)
        if self._raw_log_dir is not None:
            env[RAW_LOG_ENV] = str(self._raw_log_dir)
        log = self.workdir / log_name
        with log.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                pass_fds=(pipe_fd,) if pipe_fd >= 0 else (),
                start_new_session=True,
            )
        self._processes.append(_Locust(role, popen, log))
        logger.debug("started Locust %s (pid %d): %s", role, popen.pid, argv)

    def _start_threads(self, read_fd: int) -> None:
        self._threads = [
            threading.Thread(
                target=self._read_pipe, args=(read_fd,), name="locust-pipe", daemon=True
            ),
            threading.Thread(target=self._dispatch, name="locust-events", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------ reading and dispatching

    def _read_pipe(self, fd: int) -> None:
        """Drain the pipe into the event queue at once; watch the local workers meanwhile."""
        pending = b""
        reported: set[str] = set()
        try:
            while True:
                readable, _, _ = select.select([fd], [], [], WATCH_INTERVAL_S)
                if readable:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        break
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        self._events.put(("line", line))
                self._watch_workers(reported)
        finally:
            os.close(fd)
            self._events.put(("master_exit", None))

    def _watch_workers(self, reported: set[str]) -> None:
        for locust in self._processes[1:]:
            if locust.role not in reported and locust.popen.poll() is not None:
                reported.add(locust.role)
                self._events.put(
                    ("exit", describe_exit(locust.role, locust.popen.returncode, locust.log))
                )

    def _dispatch(self) -> None:
        handlers: dict[str, Callable[[Any], bool]] = {
            "line": self._handle_line,
            "exit": self._handle_exit,
            "master_exit": self._handle_master_exit,
        }
        while True:
            kind, payload = self._events.get()
            if not handlers[kind](payload):
                return

    def _handle_line(self, raw: bytes) -> bool:
        try:
            line = json.loads(raw)
            value = LINE_TYPES[line["type"]](line)
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring a malformed line from Locust: %r", raw[:200])
            return True
        if isinstance(value, LoadWindow):
            self._deliver_window(value)
        elif isinstance(value, LoadReady):
            self._ready = value
            self._outcome.set()
        else:
            self._fail(with_log(f"Locust reported: {value}", self._processes[0].log))
        return True

    def _deliver_window(self, window: LoadWindow) -> None:
        try:
            self._on_window(window)
        except Exception:  # a consumer bug must not stop the stream
            logger.exception("on_window callback failed for second %d", window.second)

    def _handle_exit(self, reason: str) -> bool:
        self._fail(reason)
        return True

    def _handle_master_exit(self, _payload: None) -> bool:
        main = self._processes[0]
        try:
            code: int | None = main.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        self._fail(describe_exit(main.role, code, main.log))
        return False

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._failed or self._stop_requested:
                return
            self._failed = True
            before_ready = self._ready is None
        if before_ready:
            self._start_failure = reason
            self._outcome.set()
            return
        try:
            self._on_failure(reason)
        except Exception:
            logger.exception("on_failure callback failed")

    # ------------------------------------------------------------ stop

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every Locust process: SIGTERM (master first), wait, SIGKILL what is left.

        Idempotent. Windows Locust flushes while stopping are still delivered before this
        returns.
        """
        with self._stop_lock:
            if self._stopped:
                return
            with self._lock:
                self._stop_requested = True
            deadline = time.monotonic() + timeout
            self._terminate(self._processes[:1], deadline)  # the master tells its workers to quit
            self._terminate(self._processes[1:], deadline)
            for locust in self._processes:
                if locust.popen.poll() is None:
                    logger.warning(
                        "Locust %s (pid %d) ignored SIGTERM: killing it",
                        locust.role,
                        locust.popen.pid,
                    )
                    locust.popen.kill()
                    locust.popen.wait()
            for thread in self._threads:
                thread.join(timeout=max(1.0, deadline - time.monotonic()))
            self._stopped = True

    def _terminate(self, processes: list[_Locust], deadline: float) -> None:
        for locust in processes:
            if locust.popen.poll() is None:
                locust.popen.send_signal(signal.SIGTERM)
        for locust in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                locust.popen.wait(timeout=max(0.0, deadline - time.monotonic()))

    def _abort(self) -> None:
        """Start failed: kill everything at once (no windows are worth waiting for)."""
        with self._lock:
            self._stop_requested = True
        for locust in self._processes:
            if locust.popen.poll() is None:
                locust.popen.kill()
        for locust in self._processes:
            locust.popen.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        self._stopped = True
