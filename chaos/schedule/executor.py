"""The APScheduler executor that runs firings with the scheduler they belong to.

APScheduler keeps a job's callable in its job store as a textual reference, so the
callable cannot carry the scheduler's store, settings and guard. Instead every job names
:func:`scheduled_firing` (a placeholder nothing calls) and this executor, which holds
the owning scheduler's ``fire``, runs the firing. It keeps APScheduler's own misfire
rule (``run_job``): a run time later than the job's ``misfire_grace_time`` is not run
and becomes an ``EVENT_JOB_MISSED`` event, which the scheduler records.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor

from chaos.errors import ChaosError

log = logging.getLogger(__name__)


def scheduled_firing(**_: object) -> None:
    """What a schedule's job names as its callable; :class:`FiringExecutor` runs firings."""
    raise ChaosError("a schedule's job runs only through chaos.schedule's FiringExecutor")


class FiringExecutor(BaseExecutor):
    def __init__(self, fire: Callable[[str, datetime], None], *, workers: int) -> None:
        super().__init__()
        self._fire = fire
        self._workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="schedule-firing"
        )

    def shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        assert self._pool is not None, "the executor has not been started"
        job_id, alias, grace = job.id, job._jobstore_alias, job.misfire_grace_time
        future = self._pool.submit(self._run, job_id, alias, grace, list(run_times))

        def done(finished: concurrent.futures.Future[list[JobExecutionEvent]]) -> None:
            error = finished.exception()
            if error is not None:
                self._run_job_error(job_id, error, error.__traceback__)
            else:
                self._run_job_success(job_id, finished.result())

        future.add_done_callback(done)

    def _run(
        self, job_id: str, alias: str, grace_s: int | None, run_times: list[datetime]
    ) -> list[JobExecutionEvent]:
        events = []
        for run_time in run_times:
            late = datetime.now(UTC) - run_time
            if grace_s is not None and late > timedelta(seconds=grace_s):
                log.warning(
                    "schedule %s: the firing of %s is %s late: missed", job_id, run_time, late
                )
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job_id, alias, run_time))
                continue
            self._fire(job_id, run_time)
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job_id, alias, run_time))
        return events
