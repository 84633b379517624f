"""Locust plugin that turns every request into exact per-second windows for the controller.

Imported only inside the Locust subprocess (:mod:`chaos.load.main`), after gevent has
patched the process. :func:`install` registers one ``init`` hook; from there each
process plays its part:

* **every process that runs users** (standalone or worker) records each request, success
  or failure, into the :class:`~chaos.load.stats.LoadWindow` of the unix second in which
  it *completed* (``floor(time.time())`` when Locust fires the request event; the
  counting is the pure :mod:`chaos.load.record`, fed plain values by this module).
* **standalone** (Locust's LocalRunner): ~20 ms after each second boundary the closed
  seconds are written to the controller's pipe.
* **worker**: ~20 ms after each second boundary the closed seconds are sent to the master
  with Locust's own custom messages (``chaos_windows``), not Locust's 3 s stats report.
* **master**: merges the workers' windows per second and emits a second as soon as every
  connected worker has closed it, or at most :data:`~chaos.load.merge.GRACE_S` after its
  end, so one slow worker cannot hold back stop conditions (the pure merge logic is in
  :mod:`chaos.load.merge`; this module feeds it and writes what it releases).

The pipe protocol (file descriptor ``$CHAOS_LOAD_FD``, inherited from the controller):
one JSON object per line, written and flushed at once::

    {"type": "window", "second": S, "requests": N, "failures": F,
     "histogram": {"<bucket µs>": count, ...}, "errors": {"<message>": count, ...},
     "users": U or null}
    {"type": "ready", "users": N, "workers": W}       # spawning complete (W = 0 standalone)
    {"type": "error", "message": "..."}               # Locust cannot carry on as asked

Window lines come for every second from the one in which the plugin started (it may be
partial, and ramp-up seconds come before ``ready``), in order, empty seconds included
(``requests: 0``). **The same second can come more than once**: data a worker delivers
after its second was emitted (past the grace, or from a worker whose clock lags) is
sent as one more window line for that second, with ``users: null``. Consumers merge
lines with the same second (:func:`~chaos.load.stats.merge_windows` does). On stop the
partial current second is flushed too (best effort). Workers' clocks should be in sync
(NTP): a window is keyed by the clock of the process that made the request.

If ``$CHAOS_LOAD_RAW_LOG`` names a directory, every process that runs users also appends
``[completion_time, response_time_ms, ok]`` per request to ``requests-<pid>.jsonl``
there (:class:`~chaos.load.record.RawLog`), so the windows can be audited against the
raw requests.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.event import Events
from locust.exception import CatchResponseError
from locust.rpc.protocol import Message
from locust.runners import MasterRunner, Runner, WorkerRunner

from chaos.load.merge import GRACE_S, WorkerWindowMerge
from chaos.load.record import RawLog, Recorder, close_seconds
from chaos.load.stats import LoadWindow

FD_ENV = "CHAOS_LOAD_FD"
RAW_LOG_ENV = "CHAOS_LOAD_RAW_LOG"
MESSAGE_TYPE = "chaos_windows"
CLOSE_DELAY_S = 0.02  # after a second boundary: lets requests stamped just before it land
MAX_MESSAGE_CHARS = 200

logger = logging.getLogger(__name__)


def install(events: Events) -> None:
    """Hook the plugin into a Locust process (call once, before ``locust.main.main()``)."""
    events.init.add_listener(_on_init)


# ---------------------------------------------------------------- recording


def error_message(exception: BaseException | str) -> str:
    """A short, stable text for a failure: the message a user wrote, else type and text."""
    if isinstance(exception, str | CatchResponseError):
        text = str(exception)
    else:
        name = type(exception).__name__
        text = f"{name}: {exception}" if str(exception) else name
    return text[:MAX_MESSAGE_CHARS] or "unknown failure"


def request_listener(recorder: Recorder) -> Callable[..., None]:
    """The Locust ``request`` listener feeding ``recorder`` (hot path: kept to one call)."""
    record = recorder.record

    def on_request(
        response_time: float | None = None, exception: Any = None, **_kwargs: Any
    ) -> None:
        error = None if exception is None else error_message(exception)
        record(time.time(), response_time or 0.0, error)

    return on_request


# ---------------------------------------------------------------- output to the controller


class PipeSink:
    """JSON lines to the controller's pipe; each line written in full at once."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def from_env(cls) -> PipeSink:
        value = os.environ.get(FD_ENV)
        if value is None:
            logger.warning("%s is not set: load windows are not streamed anywhere", FD_ENV)
            return cls(None)
        fd = int(value)
        os.fstat(fd)  # fail at start-up, loudly, rather than at the first window
        return cls(fd)

    def send(self, line: dict[str, Any]) -> None:
        if self._fd is None:
            return
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:  # the controller has gone: nobody is left to tell
            logger.error("load windows pipe closed (%s); no more windows are sent", exc)
            self._fd = None

    def window(self, window: LoadWindow) -> None:
        self.send({"type": "window", **window.to_json()})

    def error(self, message: str) -> None:
        logger.error("%s", message)
        self.send({"type": "error", "message": message})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _every_second(offsets: Iterable[float], callback: Callable[[float], None]) -> None:
    """Greenlet body: call ``callback(now)`` at each offset after every second boundary."""
    offsets = sorted(offsets)
    while True:
        now = time.time()
        base = math.floor(now)
        wake = next((base + o for o in offsets if base + o > now), base + 1 + offsets[0])
        gevent.sleep(wake - now)
        callback(time.time())


def _guarded(
    sink: PipeSink | None, what: str, step: Callable[[float], None]
) -> Callable[[float], None]:
    """A tick that reports its own crash instead of silently stopping the windows."""

    def tick(now: float) -> None:
        try:
            step(now)
        except Exception as exc:
            logger.exception("chaos load plugin: %s failed", what)
            if sink is not None:
                sink.error(f"chaos load plugin: {what} failed: {error_message(exc)}")

    return tick


# ---------------------------------------------------------------- standalone


class StandaloneStream:
    """LocalRunner: close each second ~20 ms after it ends and write it to the pipe."""

    def __init__(self, runner: Runner, recorder: Recorder, sink: PipeSink, start: float) -> None:
        self._runner = runner
        self._recorder = recorder
        self._sink = sink
        self._next = int(start)

    def tick(self, now: float) -> None:
        self._emit_through(int(now) - 1)

    def finish(self, now: float) -> None:
        """Flush everything, the current partial second included, and close the pipe."""
        self._emit_through(int(now))
        self._recorder.close()
        self._sink.close()

    def _emit_through(self, through: int) -> None:
        on_time, late = close_seconds(self._recorder, self._next, through, self._runner.user_count)
        for window in [*late, *on_time]:
            self._sink.window(window)
        self._next = max(self._next, through + 1)


# ---------------------------------------------------------------- worker


class WorkerStream:
    """Worker: send each closed second to the master ~20 ms after it ends."""

    def __init__(self, runner: WorkerRunner, recorder: Recorder, start: float) -> None:
        self._runner = runner
        self._recorder = recorder
        self._next = int(start)

    def tick(self, now: float) -> None:
        self._send_through(int(now) - 1)

    def finish(self, now: float) -> None:
        """Send everything left, the current partial second included (the worker is leaving)."""
        self._send_through(int(now))

    def _send_through(self, through: int) -> None:
        on_time, late = close_seconds(self._recorder, self._next, through, self._runner.user_count)
        self._next = max(self._next, through + 1)
        windows = [window.to_json() for window in [*late, *on_time]]
        self._runner.send_message(MESSAGE_TYPE, {"closed_through": through, "windows": windows})


# ---------------------------------------------------------------- master


class MasterMerge:
    """Master: merge the workers' windows per second and write each second once complete.

    The merging, and when a second is complete, are :mod:`chaos.load.merge`'s; this
    class feeds it the workers' ``chaos_windows`` messages, the connected workers and
    the time, and writes what it releases to the pipe.
    """

    def __init__(self, runner: MasterRunner, sink: PipeSink, start: float) -> None:
        self._runner = runner
        self._sink = sink
        self._merge = WorkerWindowMerge(start)
        self._expected_workers = 0  # set when spawning completes
        self._stopping = False
        self._lost_reported = False

    def on_message(self, environment: Environment, msg: Message, **_kwargs: Any) -> None:
        data = msg.data
        windows = [LoadWindow.from_json(item) for item in data["windows"]]
        closed_through = int(data["closed_through"])
        for window in self._merge.add(msg.node_id, windows, closed_through=closed_through):
            self._sink.window(window)  # late: the second is out already
        self.flush(time.time())

    def on_ready(self, user_count: int) -> None:
        self._expected_workers = self._runner.worker_count
        self._sink.send(
            {"type": "ready", "users": user_count, "workers": self._runner.worker_count}
        )

    def stopping(self) -> None:
        self._stopping = True

    def tick(self, now: float) -> None:
        self.flush(now)
        self._check_workers()

    def flush(self, now: float, *, final: bool = False) -> None:
        """Write every complete second; with ``final``, every second up to now regardless."""
        clients = self._runner.clients
        connected = {node.id for node in clients.ready + clients.spawning + clients.running}
        released = self._merge.release(
            now, connected=connected, locust_users=self._runner.user_count, final=final
        )
        for window in released:
            self._sink.window(window)

    def finish(self, now: float) -> None:
        self.flush(now, final=True)
        self._sink.close()

    def _check_workers(self) -> None:
        """Workers elsewhere cannot be watched by the controller: say when one is lost."""
        if self._stopping or self._lost_reported or not self._expected_workers:
            return
        connected = self._runner.worker_count
        if connected < self._expected_workers:
            self._lost_reported = True
            self._sink.error(
                f"Locust workers lost: {connected} of {self._expected_workers} still connected "
                "(a worker quit or stopped sending heartbeats)"
            )


# ---------------------------------------------------------------- wiring


def _raw_log_from_env() -> RawLog | None:
    directory = os.environ.get(RAW_LOG_ENV)
    return RawLog(Path(directory)) if directory else None


def _on_init(environment: Environment, runner: Runner, **_kwargs: Any) -> None:
    """Wire the part this process plays; an exception here makes Locust exit (wanted)."""
    start = time.time()
    events = environment.events
    if isinstance(runner, WorkerRunner):
        _wire_worker(events, runner, start)
    elif isinstance(runner, MasterRunner):
        _wire_master(events, runner, start)
    else:
        _wire_standalone(events, runner, start)


def _wire_standalone(events: Events, runner: Runner, start: float) -> None:
    sink = PipeSink.from_env()
    recorder = Recorder(_raw_log_from_env())
    stream = StandaloneStream(runner, recorder, sink, start)
    events.request.add_listener(request_listener(recorder))
    events.spawning_complete.add_listener(
        lambda user_count, **_: sink.send({"type": "ready", "users": user_count, "workers": 0})
    )
    ticker = gevent.spawn(
        _every_second, [CLOSE_DELAY_S], _guarded(sink, "closing a second", stream.tick)
    )

    def on_quit(**_kwargs: Any) -> None:  # after the runner has stopped every user
        ticker.kill(block=False)
        stream.finish(time.time())

    events.quit.add_listener(on_quit)


def _wire_worker(events: Events, runner: WorkerRunner, start: float) -> None:
    recorder = Recorder(_raw_log_from_env())
    stream = WorkerStream(runner, recorder, start)
    events.request.add_listener(request_listener(recorder))
    ticker = gevent.spawn(
        _every_second,
        [CLOSE_DELAY_S],
        _guarded(None, "sending a second to the master", stream.tick),
    )
    finish = _guarded(None, "sending the last windows to the master", stream.finish)

    def on_stop(**_kwargs: Any) -> None:  # users are stopped: nothing more will be recorded
        ticker.kill(block=False)
        finish(time.time())

    events.test_stop.add_listener(on_stop)
    events.quitting.add_listener(on_stop)  # fires before the worker tells the master it quits
    events.quit.add_listener(lambda **_: recorder.close())


def _wire_master(events: Events, runner: MasterRunner, start: float) -> None:
    sink = PipeSink.from_env()
    merge = MasterMerge(runner, sink, start)
    runner.register_message(MESSAGE_TYPE, merge.on_message)
    events.spawning_complete.add_listener(lambda user_count, **_: merge.on_ready(user_count))
    # Not test_stopping: a headless master also stops the test itself when its last worker
    # is lost, and that is exactly what must be reported.
    events.quitting.add_listener(lambda **_: merge.stopping())
    ticker = gevent.spawn(
        _every_second,
        [CLOSE_DELAY_S, GRACE_S + CLOSE_DELAY_S],
        _guarded(sink, "merging the workers' windows", merge.tick),
    )

    def on_quit(**_kwargs: Any) -> None:  # after the workers' last reports came in
        ticker.kill(block=False)
        merge.finish(time.time())

    events.quit.add_listener(on_quit)
