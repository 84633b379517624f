"""Report rendering: time, size and peak memory of each report of a long run.

Run: .venv/bin/python bench/report_render.py [--seconds 3600] [--runs 5]
Builds a stored run of SECONDS seconds (one load window, three SLI points and one
probe sample per second, one fault in the middle, a latency spike), then times
building the report document and rendering each format (best and worst of RUNS),
and measures each one's peak Python memory with tracemalloc. This is what
``chaos run --json --junit --markdown --html`` adds after the verdict, and what
``chaos report RUN_ID`` costs. Target: all four under 1 s and a few MB for an hour.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.controller.events import RunStatus
from chaos.report.document import build_document
from chaos.report.outputs import ReportFormat, render
from chaos.store.records import (
    EventRecord,
    LoadWindowRecord,
    RunDetail,
    RunRecord,
    SampleRecord,
    SliPointRecord,
)
from tests.report.samples import SPEC, T0, _explanation, _verdict


def long_run(seconds: int) -> RunDetail:
    fault_from, fault_to = seconds // 3, 2 * seconds // 3

    def phase(t: int) -> str:
        if t < fault_from:
            return "baseline"
        return "inject" if t < fault_to else "recovery"

    load, points, samples = [], [], []
    for t in range(seconds):
        p99 = 5000.0 if t == seconds // 2 else 100.0 + (t % 17)
        load.append(
            LoadWindowRecord(
                second=int(T0) + t,
                phase=phase(t),
                requests=120,
                failures=t % 3,
                users=8,
                metrics={
                    "throughput_rps": 120.0 - (t % 7),
                    "error_ratio": (t % 3) / 120,
                    "latency_p50_ms": p99 / 4,
                    "latency_p90_ms": p99 / 2,
                    "latency_p95_ms": p99 * 0.8,
                    "latency_p99_ms": p99,
                    "latency_max_ms": p99 * 1.3,
                },
                histogram={},
                errors={},
            )
        )
        for name, value in (("errors", (t % 3) / 120), ("p99", p99), ("throughput", 115.0)):
            points.append(SliPointRecord(name, T0 + t, phase(t), value, True, None))
        samples.append(SampleRecord(t, phase(t), "home", T0 + t, True, 12.0, 200, None))
    fault = {"label": "latency on store", "instance": "store-0", "fault": "latency"}
    events = (
        EventRecord(T0, "run.started", "preflight", "run", {}),
        EventRecord(T0 + fault_from, "fault.applied", "inject", "latency", fault),
        EventRecord(T0 + fault_to, "fault.reverted", "inject", "reverted", fault),
    )
    record = RunRecord(
        id="bench0000001",
        experiment="shop-latency",
        source="bench",
        lab="",
        status=RunStatus.PASSED,
        exit_code=0,
        reasons=(),
        time_to_recover_s=1.0,
        started_at=T0,
        ended_at=T0 + seconds,
        host="bench",
        verdict={**_verdict("passed", 0, []), "explanation": _explanation(failed=False)},
        spec=SPEC,
    )
    return RunDetail(record, events, tuple(samples), tuple(load), tuple(points))


def measure(work: Callable[[], Any], runs: int) -> tuple[float, float, int, Any]:
    timings, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - started)
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return min(timings), max(timings), peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="length of the run")
    parser.add_argument("--runs", type=int, default=5, help="timed renders of each")
    args = parser.parse_args()
    detail = long_run(args.seconds)
    print(f"a {args.seconds} s run: {args.seconds} load windows, {3 * args.seconds} SLI points")
    best, worst, peak, document = measure(lambda: build_document(detail), args.runs)
    print(
        f"{'document':10} best {best * 1e3:7.1f} ms  worst {worst * 1e3:7.1f} ms  "
        f"peak {peak / 1e6:6.1f} MB"
    )
    for fmt in ReportFormat:
        best, worst, peak, text = measure(lambda fmt=fmt: render(fmt, document), args.runs)
        size = len(text.encode())
        print(
            f"{fmt.value:10} best {best * 1e3:7.1f} ms  worst {worst * 1e3:7.1f} ms  "
            f"peak {peak / 1e6:6.1f} MB  size {size / 1e6:6.2f} MB"
        )


if __name__ == "__main__":
    main()
