"""The master's per-second merge of its workers' windows: when a second goes out, and with what."""

from __future__ import annotations

from chaos.load.merge import GRACE_S, WorkerWindowMerge
from chaos.load.stats import LoadWindow

START = 1_700_000_000.3  # the plugin started 0.3 s into second S
S = int(START)
JUST_AFTER = 0.03  # the master's tick runs ~20 ms after a second boundary


def window(second: int, requests: int, *, users: int | None = 2, failures: int = 0) -> LoadWindow:
    errors = {"status 503, expected 200": failures} if failures else {}
    return LoadWindow(second, requests, failures, {1000: requests}, errors, users)


def summary(windows: list[LoadWindow]) -> list[tuple[int, int, int, int | None]]:
    return [(w.second, w.requests, w.failures, w.users) for w in windows]


def test_a_second_every_worker_has_closed_goes_out_at_once_summed() -> None:
    merge = WorkerWindowMerge(START)
    workers = {"a", "b"}
    assert merge.add("a", [window(S, 10, failures=1)], closed_through=S) == []
    now = S + 1 + JUST_AFTER
    assert merge.release(now, connected=workers, locust_users=99) == [], "b has not closed it"

    assert merge.add("b", [window(S, 5, users=3)], closed_through=S) == []
    [released] = merge.release(now, connected=workers, locust_users=99)
    assert summary([released]) == [(S, 15, 1, 5)], "counts and users are the workers' sums"
    assert dict(released.histogram) == {1000: 15}
    assert dict(released.errors) == {"status 503, expected 200": 1}
    assert merge.release(now, connected=workers, locust_users=99) == [], "each second once"


def test_seconds_go_out_in_order_empty_ones_included() -> None:
    merge = WorkerWindowMerge(START)
    merge.add("a", [window(S + 1, 4)], closed_through=S + 2)
    released = merge.release(S + 3 + JUST_AFTER, connected={"a"}, locust_users=7)
    # a sent nothing for S and S + 2: Locust's own user count stands in for those seconds
    assert summary(released) == [(S, 0, 0, 7), (S + 1, 4, 0, 2), (S + 2, 0, 0, 7)]


def test_a_slow_worker_holds_a_second_back_only_until_the_grace() -> None:
    merge = WorkerWindowMerge(START)
    workers = {"a", "slow"}
    merge.add("a", [window(S, 10)], closed_through=S)

    assert merge.release(S + 1 + JUST_AFTER, connected=workers, locust_users=4) == []
    assert merge.release(S + 1 + GRACE_S - 0.01, connected=workers, locust_users=4) == []
    released = merge.release(S + 1 + GRACE_S, connected=workers, locust_users=4)
    assert summary(released) == [(S, 10, 0, 4)], "out at the grace, with Locust's user count"


def test_late_data_comes_as_one_more_line_for_the_same_second() -> None:
    merge = WorkerWindowMerge(START)
    workers = {"a", "slow"}
    merge.add("a", [window(S, 10)], closed_through=S)
    [on_time] = merge.release(S + 1 + GRACE_S + JUST_AFTER, connected=workers, locust_users=4)

    late = merge.add("slow", [window(S, 6, failures=2), window(S + 1, 3)], closed_through=S + 1)
    assert summary(late) == [(S, 6, 2, None)], "no user count: merging keeps the on-time one"
    assert on_time.second == late[0].second
    assert merge.add("slow", [window(S, 0)], closed_through=S + 1) == [], "empty late: dropped"
    merge.add("a", [window(S + 1, 1)], closed_through=S + 1)
    released = merge.release(S + 2 + JUST_AFTER, connected=workers, locust_users=99)
    assert summary(released) == [(S + 1, 4, 0, 4)], "the slow worker's on-time data is merged"


def test_a_disconnected_worker_no_longer_holds_seconds_back() -> None:
    merge = WorkerWindowMerge(START)
    merge.add("a", [window(S, 10)], closed_through=S)
    merge.add("gone", [window(S, 5)], closed_through=S)
    merge.add("a", [window(S + 1, 8)], closed_through=S + 1)  # "gone" disconnected meanwhile

    released = merge.release(S + 2 + JUST_AFTER, connected={"a"}, locust_users=99)
    assert summary(released) == [(S, 15, 0, 4), (S + 1, 8, 0, 2)], "no wait for the grace"


def test_one_worker_sending_the_same_second_twice_is_merged_before_it_goes_out() -> None:
    merge = WorkerWindowMerge(START)
    merge.add("a", [window(S, 3)], closed_through=S - 1)
    merge.add("a", [window(S, 4)], closed_through=S)
    released = merge.release(S + 1 + JUST_AFTER, connected={"a"}, locust_users=9)
    assert summary(released) == [(S, 7, 0, 2)]


def test_a_worker_message_never_moves_its_closed_second_backwards() -> None:
    merge = WorkerWindowMerge(START)
    merge.add("a", [], closed_through=S + 1)
    merge.add("a", [], closed_through=S)  # an older mark, out of order: ignored
    released = merge.release(S + 2 + JUST_AFTER, connected={"a"}, locust_users=1)
    assert [w.second for w in released] == [S, S + 1]


def test_the_final_flush_releases_every_second_up_to_the_current_partial_one() -> None:
    merge = WorkerWindowMerge(START)
    workers = {"a", "slow"}
    merge.add("a", [window(S, 1), window(S + 1, 2)], closed_through=S + 1)
    now = S + 1.2  # quitting: nobody waits for the grace, nor for the end of S + 1
    released = merge.release(now, connected=workers, locust_users=3, final=True)
    assert summary(released) == [(S, 1, 0, 3), (S + 1, 2, 0, 3)]
