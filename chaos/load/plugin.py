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
  :mod:`chaos.load.merge`).

The three roles are pure classes in :mod:`chaos.load.roles`; this module runs them in
Locust: the per-second greenlets, Locust's events and the ``chaos_windows`` messages.

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

import functools
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

from chaos.load.merge import GRACE_S
from chaos.load.record import RawLog, Recorder
from chaos.load.roles import MasterMerge, StandaloneStream, WorkerStream
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
    """JSON lines to the controller's pipe; each line written in full at once.

    The pipe is also the controller's lifeline: when a write finds it closed, the
    controller has gone (even SIGKILLed), and ``on_closed`` runs, so no Locust goes on
    loading a system nobody watches any more.
    """

    def __init__(self, fd: int | None, on_closed: Callable[[], None] = lambda: None) -> None:
        self._fd = fd
        self._on_closed = on_closed

    @classmethod
    def from_env(cls, on_closed: Callable[[], None] = lambda: None) -> PipeSink:
        value = os.environ.get(FD_ENV)
        if value is None:
            logger.warning("%s is not set: load windows are not streamed anywhere", FD_ENV)
            return cls(None)
        fd = int(value)
        os.fstat(fd)  # fail at start-up, loudly, rather than at the first window
        return cls(fd, on_closed)

    def send(self, line: dict[str, Any]) -> None:
        if self._fd is None:
            return
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:  # the controller has gone: nobody is left to tell
            logger.error("load windows pipe closed (%s): the controller is gone, quitting", exc)
            self._fd = None
            self._on_closed()

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


def _quit_soon(runner: Runner) -> Callable[[], None]:
    """Stop every user (and, on a master, every worker) from a greenlet of its own."""
    return lambda: gevent.spawn(runner.quit)


def _wire_standalone(events: Events, runner: Runner, start: float) -> None:
    sink = PipeSink.from_env(on_closed=_quit_soon(runner))
    recorder = Recorder(_raw_log_from_env())
    stream = StandaloneStream(runner=runner, recorder=recorder, sink=sink, start=start)
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
    send = functools.partial(runner.send_message, MESSAGE_TYPE)
    stream = WorkerStream(runner=runner, recorder=recorder, send=send, start=start)
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
    sink = PipeSink.from_env(on_closed=_quit_soon(runner))
    merge = MasterMerge(runner=runner, sink=sink, start=start)

    def on_message(environment: Environment, msg: Message, **_kwargs: Any) -> None:
        merge.receive(msg.node_id, msg.data, now=time.time())

    runner.register_message(MESSAGE_TYPE, on_message)
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
