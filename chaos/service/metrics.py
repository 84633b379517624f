"""The controller service's Prometheus text (``GET /metrics``)."""

from __future__ import annotations

from chaos import __version__
from chaos.service.runs import ABORT_BUCKETS_S, RunManager


def render_metrics(
    counts: dict[str, int],
    *,
    unauthorized: int,
    runs: RunManager | None = None,
    leader: bool | None = None,
) -> str:
    lines = [
        "# HELP chaos_controller_info Controller version.",
        "# TYPE chaos_controller_info gauge",
        f'chaos_controller_info{{version="{__version__}"}} 1',
        "# HELP chaos_runs Stored runs, by status.",
        "# TYPE chaos_runs gauge",
        *(f'chaos_runs{{status="{status}"}} {count}' for status, count in sorted(counts.items())),
        "# HELP chaos_controller_requests_unauthorized_total Requests refused for credentials.",
        "# TYPE chaos_controller_requests_unauthorized_total counter",
        f"chaos_controller_requests_unauthorized_total {unauthorized}",
    ]
    if runs is not None:
        lines += _run_lines(runs)
    if leader is not None:
        lines += [
            "# HELP chaos_scheduler_leader 1 if this controller fires the schedules.",
            "# TYPE chaos_scheduler_leader gauge",
            f"chaos_scheduler_leader {int(leader)}",
        ]
    return "\n".join(lines) + "\n"


def _run_lines(runs: RunManager) -> list[str]:
    latency = runs.abort_latency
    return [
        "# HELP chaos_runs_active Runs this service is executing now.",
        "# TYPE chaos_runs_active gauge",
        f"chaos_runs_active {len(runs.active_runs())}",
        "# HELP chaos_faults_active Faults applied, not yet reverted, by this service's runs.",
        "# TYPE chaos_faults_active gauge",
        f"chaos_faults_active {runs.active_faults()}",
        "# HELP chaos_abort_latency_seconds From an abort request to every fault reverted.",
        "# TYPE chaos_abort_latency_seconds histogram",
        *(
            f'chaos_abort_latency_seconds_bucket{{le="{bound:g}"}} {count}'
            for bound, count in zip(ABORT_BUCKETS_S, latency.counts, strict=True)
        ),
        f'chaos_abort_latency_seconds_bucket{{le="+Inf"}} {latency.total}',
        f"chaos_abort_latency_seconds_sum {latency.sum_s:.6f}",
        f"chaos_abort_latency_seconds_count {latency.total}",
    ]
