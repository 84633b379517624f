"""Locust as a subprocess of the controller: start it, stream its windows, stop it.

Locust is never imported here (it patches the whole process with gevent): the Locust
processes run ``python -m chaos.load.main`` and write JSON lines (see
:mod:`chaos.load.plugin` for the protocol) to a pipe that :mod:`chaos.load.stream`
reads and turns into callbacks; this module decides what they mean for the run (ready,
failed before or after start, stopping). The commands, one per shape (standalone, or a
master with local and remote workers), and the locustfile of built-in tasks come from
the pure builders of :mod:`chaos.load.argv`; messages about a process that ended, from
:mod:`chaos.load.exits`.

Every process starts in its own session and is only ever signalled by its PID.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from chaos.errors import LoadError, SpecError
from chaos.load.argv import (
    builtin_locustfile_source,
    master_address,
    master_argv,
    remote_worker_argv,
    standalone_argv,
    worker_argv,
)
from chaos.load.exits import STANDALONE, with_log
from chaos.load.stats import LoadWindow
from chaos.load.stream import LoadReady, LocustChild, LocustStream
from chaos.spec.files import read_user_file
from chaos.spec.limits import MAX_LOCUSTFILE_BYTES
from chaos.spec.load import LoadSpec

FD_ENV = "CHAOS_LOAD_FD"  # same names as in chaos.load.plugin, which cannot be imported here
RAW_LOG_ENV = "CHAOS_LOAD_RAW_LOG"
BUILTIN_LOCUSTFILE = "chaos_builtin_locustfile.py"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding ``chaos/``

logger = logging.getLogger(__name__)


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
        self._processes: list[LocustChild] = []
        self._outcome = threading.Event()  # ready, or failed before ready
        self._ready: LoadReady | None = None
        self._start_failure: str | None = None
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._failed = False
        self._stop_requested = False
        self._stopped = False
        self._stream: LocustStream | None = None

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
            try:  # a regular file under the cap, as validation saw it: never a FIFO or device
                read_user_file(path, max_bytes=MAX_LOCUSTFILE_BYTES, what="locustfile")
            except SpecError as exc:
                reason = exc.issues[0].message.removeprefix("cannot read locustfile: ")
                if not path.exists():
                    raise LoadError(f"locustfile not found: {path}") from None
                raise LoadError(f"locustfile {path}: {reason}") from None
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
        self._start_stream(read_fd)
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
        self._processes.append(LocustChild(role, popen, log))
        logger.debug("started Locust %s (pid %d): %s", role, popen.pid, argv)

    def _start_stream(self, read_fd: int) -> None:
        self._stream = LocustStream(
            read_fd,
            self._processes,  # workers spawned after this are watched too
            on_window=self._on_window,
            on_ready=self._became_ready,
            on_problem=self._fail,
        )
        self._stream.start()

    # ------------------------------------------------------------ ready, or failed

    def _became_ready(self, ready: LoadReady) -> None:
        self._ready = ready
        self._outcome.set()

    def _fail(self, reason: str) -> None:
        """Only the first problem counts: before ready it fails :meth:`start`, after it
        goes to ``on_failure``; once stopping (or aborting) none does."""
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
            if self._stream is not None:
                self._stream.join(deadline)
            self._stopped = True

    def _terminate(self, processes: list[LocustChild], deadline: float) -> None:
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
        if self._stream is not None:
            self._stream.join(time.monotonic() + 5)
        self._stopped = True
