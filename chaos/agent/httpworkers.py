"""The worker threads of the agent's HTTP server: started when work arrives and none is
free, never more than ``max_workers``; each answers one complete request at a time.

Threads are daemons (a request stuck in a driver must not keep a stopping agent
alive) and live until :meth:`WorkerPool.stop`; an idle agent has none until its
first request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class WorkerPool(Generic[Item]):
    def __init__(self, *, work: Callable[[Item], None], max_workers: int) -> None:
        self._work = work
        self._max = max_workers
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._threads)

    def submit(self, item: Item) -> None:
        self._queue.put(item)
        with self._lock:
            spawn = self._idle == 0 and len(self._threads) < self._max
            if spawn:
                thread = threading.Thread(target=self._run, name="http-worker", daemon=True)
                self._threads.append(thread)
        if spawn:
            thread.start()

    def stop(self) -> None:
        """Each worker ends once the work queued before this call is done."""
        with self._lock:
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
            if item is None:
                return
            try:
                self._work(item)
            except Exception:  # a bug in one answer must not end the worker
                log.exception("an HTTP worker failed")
