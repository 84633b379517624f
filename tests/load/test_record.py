"""Recording requests into per-second windows, without Locust: what the plugin sends is this."""

from __future__ import annotations

import json
import os
from pathlib import Path

from chaos.load.record import RawLog, Recorder, close_seconds
from chaos.load.stats import MAX_ERROR_KINDS, OTHER_ERRORS, LoadWindow

S = 1_700_000_000  # a unix second


def summary(windows: list[LoadWindow]) -> list[tuple[int, int, int, int | None]]:
    return [(w.second, w.requests, w.failures, w.users) for w in windows]


def test_a_request_counts_in_the_second_it_completed_in() -> None:
    recorder = Recorder(None)
    recorder.record(S + 0.001, 1.2345, None)
    recorder.record(S + 0.999, 56.789, None)
    recorder.record(S + 1.0, 0.4567, None)  # exactly on the boundary: the next second

    on_time, late = close_seconds(recorder, S, S + 1, users=4)

    assert late == []
    assert summary(on_time) == [(S, 2, 0, 4), (S + 1, 1, 0, 4)]
    assert dict(on_time[0].histogram) == {1230: 1, 56800: 1}, "latencies in 3-digit µs buckets"
    assert dict(on_time[1].histogram) == {457: 1}


def test_failures_are_counted_by_message_and_stay_in_the_latency_histogram() -> None:
    recorder = Recorder(None)
    recorder.record(S + 0.1, 3.0, "status 503, expected 200")
    recorder.record(S + 0.2, 3.0, "status 503, expected 200")
    recorder.record(S + 0.3, 9.0, "ConnectionRefusedError: [Errno 111]")
    recorder.record(S + 0.4, 1.0, None)

    [window], _ = close_seconds(recorder, S, S, users=1)

    assert (window.requests, window.failures) == (4, 3)
    assert dict(window.errors) == {
        "status 503, expected 200": 2,
        "ConnectionRefusedError: [Errno 111]": 1,
    }
    assert sum(window.histogram.values()) == 4


def test_error_kinds_are_capped_so_a_window_stays_small() -> None:
    recorder = Recorder(None)
    for index in range(MAX_ERROR_KINDS + 5):  # e.g. a request id in every message
        recorder.record(S + 0.5, 1.0, f"request {index} failed")
    recorder.record(S + 0.6, 1.0, "request 0 failed")  # a kept message still counts as itself

    [window], _ = close_seconds(recorder, S, S, users=1)

    assert window.failures == MAX_ERROR_KINDS + 6
    assert len(window.errors) == MAX_ERROR_KINDS + 1
    assert window.errors[OTHER_ERRORS] == 5
    assert window.errors["request 0 failed"] == 2
    assert sum(window.errors.values()) == window.failures


def test_closing_gives_every_second_in_order_empty_ones_included() -> None:
    recorder = Recorder(None)
    recorder.record(S + 2.5, 1.0, None)
    recorder.record(S + 0.5, 1.0, None)
    recorder.record(S + 4.5, 1.0, None)  # not closed yet

    on_time, late = close_seconds(recorder, S, S + 3, users=7)

    assert late == []
    assert summary(on_time) == [(S, 1, 0, 7), (S + 1, 0, 0, 7), (S + 2, 1, 0, 7), (S + 3, 0, 0, 7)]
    on_time, _ = close_seconds(recorder, S + 4, S + 4, users=7)
    assert summary(on_time) == [(S + 4, 1, 0, 7)], "a closed second is taken once, later ones kept"


def test_requests_of_an_already_closed_second_come_back_late_without_users() -> None:
    recorder = Recorder(None)
    close_seconds(recorder, S, S + 1, users=3)
    recorder.record(S + 1.9, 1.0, "late failure")  # stamped before the boundary, landed after
    recorder.record(S + 2.1, 1.0, None)

    on_time, late = close_seconds(recorder, S + 2, S + 2, users=3)

    assert summary(late) == [(S + 1, 1, 1, None)], "merging keeps the on-time user count"
    assert summary(on_time) == [(S + 2, 1, 0, 3)]


def test_closing_nothing_gives_nothing() -> None:
    assert close_seconds(Recorder(None), S + 1, S, users=0) == ([], [])


def test_the_raw_log_has_one_line_per_request_flushed_when_seconds_close(tmp_path: Path) -> None:
    recorder = Recorder(RawLog(tmp_path / "raw"))
    recorder.record(S + 0.25, 12.5, None)
    recorder.record(S + 0.75, 3.0, "boom")
    path = tmp_path / "raw" / f"requests-{os.getpid()}.jsonl"

    close_seconds(recorder, S, S, users=1)
    flushed = path.read_text(encoding="utf-8")
    recorder.record(S + 1.5, 1.0, None)
    recorder.close()
    recorder.close()  # safe twice: the plugin may close on more than one event

    assert [json.loads(line) for line in flushed.splitlines()] == [
        [S + 0.25, 12.5, True],
        [S + 0.75, 3.0, False],
    ]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1]) == [S + 1.5, 1.0, True]


def test_the_raw_log_appends_to_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / f"requests-{os.getpid()}.jsonl"
    path.write_text("[1.0, 2.0, true]\n", encoding="utf-8")
    log = RawLog(tmp_path)
    log.write(3.0, 4.0, False)
    log.close()
    log.write(5.0, 6.0, True)  # after close: dropped, not an error

    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == ["[1.0, 2.0, true]", "[3.0, 4.0, false]"]
