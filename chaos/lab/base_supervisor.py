"""The supervising loop shared by both isolations: spawn, health-wait, restart, stop.

:class:`BaseSupervisor` owns the children; subclasses (``ProxySupervisor``,
``NetnsSupervisor``) fill in the hooks. It runs inside ``python -m chaos.lab.supervisor``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import ChaosError
from chaos.lab.children import ChildSpec, ServicePlan
from chaos.lab.state import STATE_FILE, is_healthy, write_json_atomically

STARTUP_TIMEOUT_S = 20.0
STOP_GRACE_S = 3.0
# A child that exits by itself (code > 0) this soon after starting is crash-looping:
# its restart delay doubles each time, up to the cap (Kubernetes' CrashLoopBackOff).
QUICK_EXIT_S = 5.0
MAX_BACKOFF_S = 30.0
# Named after the entry point: the supervisor process logs as one component.
log = logging.getLogger("chaos.lab.supervisor")


class LabStartError(Exception):
    """The lab cannot start (busy port, service crashing at start); the message says why."""


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    restart_at: float | None = None  # set when we noticed it died
    quick_exits: int = 0


@dataclass
class BaseSupervisor:
    """Spawn, health-wait, restart, record, stop. Subclasses fill in the hooks."""

    lab_id: str
    state_dir: Path
    variant: str
    restart_delay_s: float
    children: dict[str, Child] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.time)

    # --- hooks ---
    def prepare(self) -> None:
        """Build what the children need (proxy, network) before they start."""

    def child_specs(self) -> list[ChildSpec]:
        raise NotImplementedError

    def state_fields(self) -> dict[str, Any]:
        """Fields of state.json beyond the common ones."""
        return {}

    def service_fields(self, plan: ServicePlan) -> dict[str, Any]:
        return {}

    def before_stop(self) -> None:
        """Runs first at shutdown, before any child is stopped (e.g. end every fault)."""

    def after_stop(self) -> None:
        """Runs last at shutdown, once every child has exited."""

    # --- the loop ---
    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        try:
            self.prepare()
            for spec in self.child_specs():
                self.children[spec.name] = Child(spec, self._spawn(spec))
            self._wait_until_healthy()
            self._write_state()
            log.info("lab %s (%s) is up", self.lab_id, self.variant)
            while not self.stopping.wait(0.1):
                self._supervise_once()
            return 0
        except (LabStartError, ChaosError, OSError) as exc:
            log.error("lab %s cannot start: %s", self.lab_id, exc)
            return 1
        finally:
            self._shutdown()

    def _spawn(self, spec: ChildSpec) -> subprocess.Popen[bytes]:
        with open(self.state_dir / f"{spec.name}.log", "ab") as out:
            process = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(spec.env),
            )
        log.info("started %s (pid %d)", spec.name, process.pid)
        return process

    def _wait_until_healthy(self) -> None:
        """Every service must answer /health; agents are supervised but not waited for."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        pending = {name for name, child in self.children.items() if child.spec.plan}
        while pending:
            for name in list(pending):
                child = self.children[name]
                assert child.spec.plan is not None
                if (code := child.process.poll()) is not None:
                    raise LabStartError(f"{name} exited with code {code} at start; see {name}.log")
                if is_healthy(child.spec.plan.url):
                    pending.discard(name)
            if self.stopping.is_set() or time.monotonic() > deadline:
                raise LabStartError(f"services never became healthy: {sorted(pending)}")
            time.sleep(0.05)

    def _supervise_once(self) -> None:
        now = time.monotonic()
        for name, child in self.children.items():
            if child.restart_at is None and (code := child.process.poll()) is not None:
                quick = code > 0 and now - child.started_at < QUICK_EXIT_S
                child.quick_exits = child.quick_exits + 1 if quick else 0
                delay = self.restart_delay_s
                if child.quick_exits:
                    delay = min(MAX_BACKOFF_S, max(delay, 1.0) * 2**child.quick_exits)
                log.warning("%s (pid %d) exited with %s", name, child.process.pid, code)
                child.restart_at = now + delay
            elif child.restart_at is not None and now >= child.restart_at:
                child.process = self._spawn(child.spec)
                child.started_at = now
                child.restarts += 1
                child.restart_at = None
                self._write_state()

    def _write_state(self) -> None:
        services = [
            {
                "name": plan.name,
                "app": plan.app,
                "replica": plan.replica,
                "port": plan.port,
                "pid": c.process.pid,
                "url": plan.url,
                "restarts": c.restarts,
                **self.service_fields(plan),
            }
            for c in self.children.values()
            if (plan := c.spec.plan) is not None
        ]
        state = {
            "lab_id": self.lab_id,
            "variant": self.variant,
            "supervisor_pid": os.getpid(),
            "restart_delay_s": self.restart_delay_s,
            "started_at": self.started_at,
            "services": services,
            **self.state_fields(),
        }
        write_json_atomically(self.state_dir / STATE_FILE, state)

    def _remove_own_state(self) -> None:
        """Remove state.json only if it is ours: never another supervisor's live record."""
        path = self.state_dir / STATE_FILE
        try:
            if json.loads(path.read_text()).get("supervisor_pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass  # absent or unreadable: nothing of ours to remove

    def _shutdown(self) -> None:
        self.before_stop()
        for child in self.children.values():
            if child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children.values():
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        try:
            self.after_stop()
        finally:
            self._remove_own_state()
        log.info("lab %s stopped", self.lab_id)
