"""Samples every probe once per interval, in the background, for the whole run.

Each round (tick) starts every probe at once on a thread pool, so a slow probe
(up to its timeout) never delays the next round. A sample belongs to the phase
that was current when it *started*.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from chaos.steady.hypothesis import Observation, Phase
from chaos.steady.probes import Probe, ProbeSample


class Sampler:
    def __init__(
        self,
        *,
        probes: Sequence[Probe],  # probes and Prometheus SLI queries alike
        interval: float,
        phase: Callable[[], Phase],
        on_observation: Callable[[Observation], None],
    ) -> None:
        self._probes = list(probes)
        self._interval = interval
        self._phase = phase
        self._on_observation = on_observation
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, 4 * len(self._probes)), thread_name_prefix="probe"
        )
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._in_flight: dict[Phase, int] = {}
        self._cond = threading.Condition()
        self._tick = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def drain(self, phase: Phase, *, timeout: float) -> None:
        """Wait until every sample started in ``phase`` has completed (bounded)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._in_flight.get(phase, 0) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def sample_now(self) -> None:
        """Start a round at once and keep the cadence from there (e.g. right after a revert,
        so time-to-recover is not rounded up to the next scheduled round)."""
        self._wake.set()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._start_round()
            next_at += self._interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (machine busy): skip rounds, keep cadence
                next_at = time.monotonic()
                delay = 0
            if self._wake.wait(delay):
                self._wake.clear()
                next_at = time.monotonic()

    def _start_round(self) -> None:
        phase, tick = self._phase(), self._tick
        self._tick += 1
        for probe in self._probes:
            with self._cond:
                self._in_flight[phase] = self._in_flight.get(phase, 0) + 1
            try:
                future = self._pool.submit(probe.check)
            except RuntimeError:  # pool shut down while stopping
                self._done(phase)
                return
            future.add_done_callback(
                lambda f, p=phase, t=tick, name=probe.name: self._finished(f, p, t, name)
            )

    def _finished(self, future: Future[ProbeSample], phase: Phase, tick: int, name: str) -> None:
        try:
            if future.cancelled() or self._stop.is_set():
                return  # stopped: the run has gone on to its verdict, which this cannot change
            error = future.exception()
            sample = future.result() if error is None else _crashed(name, error)
            self._on_observation(Observation(tick=tick, phase=phase, sample=sample))
        finally:
            self._done(phase)

    def _done(self, phase: Phase) -> None:
        with self._cond:
            self._in_flight[phase] -= 1
            self._cond.notify_all()


def _crashed(name: str, error: BaseException) -> ProbeSample:
    """A probe that raised counts as a failed sample, never as a crash of the run."""
    return ProbeSample(
        probe=name,
        started_at=time.time(),
        ok=False,
        latency_ms=0.0,
        error=f"probe crashed: {error!r}",
    )
