"""The roles of the Locust processes, without Locust: which windows reach the controller, when."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chaos.load.merge import GRACE_S
from chaos.load.record import Recorder
from chaos.load.roles import MasterMerge, StandaloneStream, WorkerStream
from chaos.load.stats import LoadWindow

START = 1_700_000_000.3  # the plugin started 0.3 s into second S
S = int(START)
TICK = 0.02  # the plugin ticks ~20 ms after each second boundary


def summary(windows: list[LoadWindow]) -> list[tuple[int, int, int, int | None]]:
    return [(w.second, w.requests, w.failures, w.users) for w in windows]


@dataclass
class FakeSink:
    """The controller's pipe, as lines the roles wrote."""

    windows: list[LoadWindow] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)  # everything but windows
    closed: bool = False

    def send(self, line: dict[str, Any]) -> None:
        self.lines.append(line)

    def window(self, window: LoadWindow) -> None:
        self.windows.append(window)

    def error(self, message: str) -> None:
        self.lines.append({"type": "error", "message": message})

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeRunner:
    user_count: int = 4


@dataclass(frozen=True)
class Node:
    id: str


@dataclass
class Nodes:
    ready: list[Node] = field(default_factory=list)
    spawning: list[Node] = field(default_factory=list)
    running: list[Node] = field(default_factory=list)


@dataclass
class FakeMaster:
    clients: Nodes
    user_count: int = 9

    @property
    def worker_count(self) -> int:  # as Locust counts them
        return len(self.clients.ready) + len(self.clients.spawning) + len(self.clients.running)


def standalone(recorder: Recorder, sink: FakeSink) -> StandaloneStream:
    return StandaloneStream(runner=FakeRunner(), recorder=recorder, sink=sink, start=START)


# ---------------------------------------------------------------- standalone


def test_standalone_writes_every_closed_second_empty_ones_included() -> None:
    recorder, sink = Recorder(None), FakeSink()
    stream = standalone(recorder, sink)
    recorder.record(S + 0.5, 1.0, None)
    recorder.record(S + 0.6, 1.0, "status 503, expected 200")
    recorder.record(S + 1.5, 1.0, None)

    stream.tick(S + 1 + TICK)
    assert summary(sink.windows) == [(S, 2, 1, 4)], "the current second is still open"
    stream.tick(S + 3 + TICK)
    assert summary(sink.windows[1:]) == [(S + 1, 1, 0, 4), (S + 2, 0, 0, 4)]
    stream.tick(S + 3 + 2 * TICK)
    assert len(sink.windows) == 3, "each second once"


def test_standalone_sends_a_request_recorded_after_its_second_closed_as_late_data() -> None:
    recorder, sink = Recorder(None), FakeSink()
    stream = standalone(recorder, sink)
    stream.tick(S + 1 + TICK)
    recorder.record(S + 0.999, 1.0, None)  # stamped before the boundary, landed after the tick

    stream.tick(S + 2 + TICK)
    assert summary(sink.windows) == [(S, 0, 0, 4), (S, 1, 0, None), (S + 1, 0, 0, 4)]


def test_standalone_finish_flushes_the_partial_second_and_closes_the_pipe() -> None:
    recorder, sink = Recorder(None), FakeSink()
    stream = standalone(recorder, sink)
    recorder.record(S + 1.5, 1.0, None)

    stream.finish(S + 1.6)
    assert summary(sink.windows) == [(S, 0, 0, 4), (S + 1, 1, 0, 4)]
    assert sink.closed


# ---------------------------------------------------------------- worker


def test_worker_sends_its_closed_seconds_and_how_far_it_has_closed() -> None:
    recorder, sent = Recorder(None), []
    stream = WorkerStream(runner=FakeRunner(2), recorder=recorder, send=sent.append, start=START)
    recorder.record(S + 0.5, 1.0, None)
    recorder.record(S + 2.5, 1.0, None)  # the current second: not sent yet

    stream.tick(S + 2 + TICK)
    [message] = sent
    assert message["closed_through"] == S + 1
    windows = [LoadWindow.from_json(item) for item in message["windows"]]
    assert summary(windows) == [(S, 1, 0, 2), (S + 1, 0, 0, 2)]

    stream.finish(S + 2.7)  # leaving: the partial second goes too
    assert sent[1]["closed_through"] == S + 2
    assert [item["requests"] for item in sent[1]["windows"]] == [1]


# ---------------------------------------------------------------- master


def master(*ready: str, spawning: tuple[str, ...] = ()) -> tuple[MasterMerge, FakeMaster, FakeSink]:
    runner = FakeMaster(Nodes(ready=[Node(i) for i in ready], spawning=[Node(i) for i in spawning]))
    sink = FakeSink()
    return MasterMerge(runner=runner, sink=sink, start=START), runner, sink


def worker_message(closed_through: int, *windows: LoadWindow) -> dict[str, Any]:
    data = {"closed_through": closed_through, "windows": [w.to_json() for w in windows]}
    return json.loads(json.dumps(data))  # as it crosses the wire


def test_what_workers_send_the_master_writes_once_every_worker_closed_the_second() -> None:
    merge, _runner, sink = master("a", "b")
    recorders = {"a": Recorder(None), "b": Recorder(None)}
    streams = {
        name: WorkerStream(
            runner=FakeRunner(users),
            recorder=recorders[name],
            send=lambda data, name=name: merge.receive(name, data, now=S + 1 + TICK),
            start=START,
        )
        for name, users in (("a", 3), ("b", 2))
    }
    recorders["a"].record(S + 0.4, 1.0, None)
    recorders["b"].record(S + 0.5, 1.0, "status 503, expected 200")

    streams["a"].tick(S + 1 + TICK)
    assert sink.windows == [], "b has not closed S yet"
    streams["b"].tick(S + 1 + TICK)
    assert summary(sink.windows) == [(S, 2, 1, 5)], "summed, users included"


def test_a_spawning_worker_holds_a_second_back_until_the_grace() -> None:
    merge, _runner, sink = master("a", spawning=("new",))
    merge.receive("a", worker_message(S, LoadWindow(S, 7, 0, users=3)), now=S + 1 + TICK)
    merge.tick(S + 1 + TICK)
    assert sink.windows == []

    merge.tick(S + 1 + GRACE_S + TICK)
    assert summary(sink.windows) == [(S, 7, 0, 9)], "Locust's user count: one worker missed it"


def test_the_master_writes_late_worker_data_at_once_without_users() -> None:
    merge, _runner, sink = master("a")
    merge.receive("a", worker_message(S, LoadWindow(S, 7, 0, users=3)), now=S + 1 + TICK)
    merge.receive("a", worker_message(S, LoadWindow(S, 2, 0, users=3)), now=S + 1 + 2 * TICK)
    assert summary(sink.windows) == [(S, 7, 0, 3), (S, 2, 0, None)]


def test_the_master_says_ready_with_its_workers() -> None:
    merge, _runner, sink = master("a", "b")
    merge.on_ready(10)
    assert sink.lines == [{"type": "ready", "users": 10, "workers": 2}]


def test_a_lost_worker_is_reported_once() -> None:
    merge, runner, sink = master("a", "b")
    merge.tick(S + 1 + TICK)
    runner.clients.ready.pop()
    merge.tick(S + 2 + TICK)
    assert sink.lines == [], "before spawning completed, no worker count is expected yet"

    runner.clients.ready.append(Node("b"))
    merge.on_ready(10)
    runner.clients.ready.pop()
    merge.tick(S + 3 + TICK)
    merge.tick(S + 4 + TICK)
    errors = [line["message"] for line in sink.lines if line["type"] == "error"]
    assert len(errors) == 1
    assert errors[0].startswith("Locust workers lost: 1 of 2 still connected")


def test_workers_leaving_while_the_master_quits_are_not_reported() -> None:
    merge, runner, sink = master("a", "b")
    merge.on_ready(10)
    merge.stopping()
    runner.clients.ready.clear()
    merge.tick(S + 1 + TICK)
    assert [line["type"] for line in sink.lines] == ["ready"]


def test_the_master_finish_writes_every_second_up_to_now_and_closes_the_pipe() -> None:
    merge, _runner, sink = master("a", "slow")
    merge.receive("a", worker_message(S + 1, LoadWindow(S + 1, 4, 0, users=3)), now=S + 1.2)
    merge.finish(S + 1.3)
    assert summary(sink.windows) == [(S, 0, 0, 9), (S + 1, 4, 0, 9)]
    assert sink.closed
