"""The messages that say why a Locust process ended."""

from __future__ import annotations

from pathlib import Path

from chaos.load.exits import LOG_TAIL_LINES, STANDALONE, describe_exit, log_tail, with_log


def test_an_exit_names_the_signal_and_the_last_error_printed(tmp_path: Path) -> None:
    log = tmp_path / "locust-master.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        "ImportError: cannot import name 'x'\n"
        "gevent.exceptions.LoopExit: would block forever\n"
        "  shutting down\n",
        encoding="utf-8",
    )

    message = describe_exit("master", -9, log)

    first, marker, *tail = message.splitlines()
    assert first == (
        "Locust master exited with code -9 (SIGKILL): "
        "gevent.exceptions.LoopExit: would block forever"
    ), "the last error line, not the first"
    assert marker == f"--- last lines of {log} ---"
    assert tail[-1] == "  shutting down"


def test_a_standalone_locust_is_just_locust_and_no_log_adds_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "locust.log"
    assert describe_exit(STANDALONE, 1, missing) == "Locust exited with code 1"
    assert describe_exit("worker 2", None, missing) == "Locust worker 2 stopped streaming windows"
    assert with_log("Locust reported: no users", missing) == "Locust reported: no users"


def test_only_the_end_of_a_long_log_is_quoted(tmp_path: Path) -> None:
    log = tmp_path / "locust.log"
    log.write_text("".join(f"line {index}\n" for index in range(1000)), encoding="utf-8")

    assert log_tail(log) == [f"line {index}" for index in range(1000 - LOG_TAIL_LINES, 1000)]
