"""The events of a run as the run loop emits them, for feeding the store in tests."""

from __future__ import annotations

import uuid

from chaos.controller.events import EventBus, EventKind
from chaos.steady.hypothesis import Phase

VERDICT = {
    "status": "passed",
    "exit_code": 0,
    "reasons": [],
    "time_to_recover_s": 1.5,
    "unreverted": [],
    "checks": {},
}


def start_run(bus: EventBus, run_id: str, *, experiment: str = "lab-api-kill") -> None:
    bus.emit(
        EventKind.RUN_STARTED,
        run_id=run_id,
        phase=None,
        message=f"run {run_id} started",
        data={
            "experiment": experiment,
            "source": "experiments/lab-api-kill.yaml",
            "lab": "default",
            "spec": {"metadata": {"name": experiment}},
        },
    )


def emit_sample(bus: EventBus, run_id: str, tick: int, *, ok: bool = True) -> None:
    bus.emit(
        EventKind.SAMPLE,
        run_id=run_id,
        phase=Phase.BASELINE,
        data={
            "tick": tick,
            "probe": "homepage",
            "ok": ok,
            "latency_ms": 12.5 + tick,
            "status": 200 if ok else None,
            "error": None if ok else "cannot connect: refused",
            "started_at": 1000.0 + tick,
        },
    )


def full_run(bus: EventBus, run_id: str, *, experiment: str = "lab-api-kill") -> None:
    start_run(bus, run_id, experiment=experiment)
    for tick in range(3):
        emit_sample(bus, run_id, tick, ok=tick != 1)
    bus.emit(
        EventKind.FAULT_APPLIED,
        run_id=run_id,
        phase=Phase.INJECT,
        message="process-kill applied to api",
        data={"fault": "process-kill", "targets": ["api-1"]},
    )
    bus.emit(EventKind.VERDICT, run_id=run_id, phase=Phase.VERDICT, message="passed", data=VERDICT)


def new_id() -> str:
    return uuid.uuid4().hex
