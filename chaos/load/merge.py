"""The Locust master's per-second merge of its workers' windows. Pure: no Locust, no clock.

Each worker sends the windows of the seconds it has closed, and how far it has closed
(``closed_through``). :class:`WorkerWindowMerge` adds them up per second and releases a
second, in order, as soon as every *connected* worker has closed it, or :data:`GRACE_S`
after the second's end, whichever comes first: one slow worker cannot hold back stop
conditions, and a worker that has gone no longer counts. Data for a second already
released is late: it comes back at once as one more window for that second, with
``users: None``, for the consumer to merge (the pipe protocol in :mod:`chaos.load.plugin`
says so). The master's role (:class:`chaos.load.roles.MasterMerge`) passes in who is
connected and what time it is, and writes out what comes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import replace

from chaos.load.stats import LoadWindow, merge_windows

GRACE_S = 0.5  # the master waits at most this long after a second for slow workers


class WorkerWindowMerge:
    """Workers' windows per second, from ``start`` on; each second released once complete."""

    def __init__(self, start: float) -> None:
        self._next = int(start)  # the first second not yet released
        self._pending: dict[int, dict[str, LoadWindow]] = {}  # second → worker id → window
        self._closed_through: dict[str, int] = {}  # worker id → last second it closed

    def add(
        self, worker: str, windows: Iterable[LoadWindow], *, closed_through: int
    ) -> list[LoadWindow]:
        """Take one message of ``worker``; return its late data, to be sent at once.

        Late windows (of seconds already released) keep their requests and lose their
        user count, so that merging keeps the on-time one; empty late windows are dropped.
        """
        late: list[LoadWindow] = []
        for window in windows:
            if window.second < self._next:
                if window.requests:
                    late.append(replace(window, users=None))
                continue
            slot = self._pending.setdefault(window.second, {})
            slot[worker] = merge_windows([slot[worker], window]) if worker in slot else window
        previous = self._closed_through.get(worker, closed_through)
        self._closed_through[worker] = max(previous, closed_through)
        return late

    def release(
        self, now: float, *, connected: Set[str], locust_users: int, final: bool = False
    ) -> list[LoadWindow]:
        """Every second complete at ``now`` (unix time), in order, empty seconds included.

        ``connected`` are the ids of the workers connected now. A second's user count
        is the sum of its workers' when every connected worker sent a window for it,
        else ``locust_users`` (Locust's own, coarser view). With ``final`` (the master
        is quitting), every second up to the current, partial one is released.
        """
        through = int(now) if final else int(now) - 1
        released: list[LoadWindow] = []
        while self._next <= through:
            second = self._next
            if not (final or self._closed_by_all(second, connected) or now >= second + 1 + GRACE_S):
                break
            released.append(self._merged(second, connected, locust_users))
            self._next += 1
        return released

    def _closed_by_all(self, second: int, connected: Set[str]) -> bool:
        return all(self._closed_through.get(worker, -1) >= second for worker in connected)

    def _merged(self, second: int, connected: Set[str], locust_users: int) -> LoadWindow:
        parts = self._pending.pop(second, {})
        if connected <= parts.keys():
            users = sum(window.users or 0 for window in parts.values())
        else:  # someone missed the second
            users = locust_users
        if not parts:
            return LoadWindow(second, 0, 0, users=users)
        return replace(merge_windows(parts.values()), second=second, users=users)
