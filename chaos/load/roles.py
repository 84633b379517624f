"""What each Locust process does with its windows: standalone, worker or master.

Pure: no Locust, no gevent (an import contract keeps it so). :mod:`chaos.load.plugin`
does the Locust side: it calls each role's ``tick`` from a greenlet ~20 ms after every
second boundary, calls ``finish`` from Locust's events, carries the workers' messages
to the master (Locust's custom message ``chaos_windows``), and hands each role the
runner, which the roles only read, through the attributes in :class:`RunnerView` and
:class:`MasterView`. The pipe protocol the roles write is documented in
:mod:`chaos.load.plugin`.

A worker's message is ``{"closed_through": S, "windows": [<LoadWindow.to_json()>, ...]}``:
the windows of the seconds it closed since its last message (late data included) and
the last second it has closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from chaos.load.merge import WorkerWindowMerge
from chaos.load.record import Recorder, close_seconds
from chaos.load.stats import LoadWindow


class Sink(Protocol):
    """Where the controller's lines go (:class:`chaos.load.plugin.PipeSink`)."""

    def send(self, line: dict[str, Any]) -> None: ...
    def window(self, window: LoadWindow) -> None: ...
    def error(self, message: str) -> None: ...
    def close(self) -> None: ...


class RunnerView(Protocol):
    """What the roles read of any Locust runner."""

    @property
    def user_count(self) -> int: ...


class WorkerNodeView(Protocol):
    @property
    def id(self) -> str: ...


class WorkerNodesView(Protocol):
    """The master's workers by state (Locust's ``MasterRunner.clients``)."""

    @property
    def ready(self) -> Sequence[WorkerNodeView]: ...
    @property
    def spawning(self) -> Sequence[WorkerNodeView]: ...
    @property
    def running(self) -> Sequence[WorkerNodeView]: ...


class MasterView(RunnerView, Protocol):
    """What the master role reads of Locust's ``MasterRunner``."""

    @property
    def worker_count(self) -> int: ...
    @property
    def clients(self) -> WorkerNodesView: ...


# ---------------------------------------------------------------- standalone


class StandaloneStream:
    """LocalRunner: close each second ~20 ms after it ends and write it to the pipe."""

    def __init__(self, *, runner: RunnerView, recorder: Recorder, sink: Sink, start: float) -> None:
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
    """Worker: send each closed second to the master ~20 ms after it ends.

    ``send`` delivers one message to the master (the plugin makes it Locust's
    ``chaos_windows`` custom message).
    """

    def __init__(
        self,
        *,
        runner: RunnerView,
        recorder: Recorder,
        send: Callable[[dict[str, Any]], None],
        start: float,
    ) -> None:
        self._runner = runner
        self._recorder = recorder
        self._send = send
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
        self._send({"closed_through": through, "windows": windows})


# ---------------------------------------------------------------- master


class MasterMerge:
    """Master: merge the workers' windows per second and write each second once complete.

    The merging, and when a second is complete, are :mod:`chaos.load.merge`'s; this
    class feeds it the workers' messages, the connected workers and the time, and
    writes what it releases to the pipe.
    """

    def __init__(self, *, runner: MasterView, sink: Sink, start: float) -> None:
        self._runner = runner
        self._sink = sink
        self._merge = WorkerWindowMerge(start)
        self._expected_workers = 0  # set when spawning completes
        self._stopping = False
        self._lost_reported = False

    def receive(self, worker: str, data: dict[str, Any], *, now: float) -> None:
        """One message of ``worker``: write its late data at once, then what is complete."""
        windows = [LoadWindow.from_json(item) for item in data["windows"]]
        closed_through = int(data["closed_through"])
        for window in self._merge.add(worker, windows, closed_through=closed_through):
            self._sink.window(window)  # late: the second is out already
        self.flush(now)

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
        states = (clients.ready, clients.spawning, clients.running)
        connected = {node.id for nodes in states for node in nodes}
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
