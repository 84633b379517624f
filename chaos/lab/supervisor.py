"""The lab supervisor: one process that keeps the lab's services (and agents) alive.

``python -m chaos.lab.supervisor --lab-id ID --state-dir DIR --variant V
[--isolation process|netns] [--base-port P] --restart-delay S``. Like a Deployment's
controller, it restarts any child that exits or is killed (after ``--restart-delay``),
and it records what runs where in ``DIR/state.json`` so the platform can find the lab.

The supervising loop is shared (:class:`BaseSupervisor`); what differs per isolation is
a few hooks: :class:`ProxySupervisor` here runs the services on loopback behind the TCP
proxy, ``chaos.lab.netns_supervisor.NetnsSupervisor`` runs each node in its own
network namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import ChaosError
from chaos.host.tcpproxy import LOOPBACK, LinkSpec, ProxyServer

STATE_FILE = "state.json"
LOG_FILE = "supervisor.log"
STARTUP_TIMEOUT_S = 20.0
STOP_GRACE_S = 3.0
API_REPLICAS = {"fragile": 1, "resilient": 2}
# A child that exits by itself (code > 0) this soon after starting is crash-looping:
# its restart delay doubles each time, up to the cap (Kubernetes' CrashLoopBackOff).
QUICK_EXIT_S = 5.0
MAX_BACKOFF_S = 30.0
# What marks a process as part of a lab; never inherited from whoever started the lab.
LAB_ENV_KEYS = ("CHAOS_LAB_ID", "CHAOS_LABELS", "CHAOS_LAB_CONTROL", "CHAOS_NODE")
LAB_ENV_KEYS += ("CHAOS_NODE_IP", "CHAOS_AGENT")
log = logging.getLogger("chaos.lab.supervisor")


class LabStartError(Exception):
    """The lab cannot start (busy port, service crashing at start); the message says why."""


@dataclass(frozen=True)
class ServicePlan:
    name: str  # "web", "api-0", "store"
    app: str
    replica: int
    port: int
    upstreams: tuple[str, ...]
    host: str = LOOPBACK
    node: str | None = None  # netns labs: the node (namespace) it runs on

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: a service, or a node's agent (``plan`` None)."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    plan: ServicePlan | None = None


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    restart_at: float | None = None  # set when we noticed it died
    quick_exits: int = 0


def url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def plan_lab(*, base_port: int, variant: str) -> tuple[list[ServicePlan], list[LinkSpec]]:
    """The port plan (see docs/lab.md): web=base, api-N=base+1+N, store=base+5,
    control API=base+9, links from base+10. Every hop goes through a link."""
    store_port = base_port + 5
    replicas = range(API_REPLICAS[variant])
    store_link = LinkSpec(
        "api->store", base_port + 10, LOOPBACK, store_port, "api", "store", "store-0"
    )
    api_links = [
        LinkSpec(
            f"web->api-{n}",
            base_port + 11 + n,
            LOOPBACK,
            base_port + 1 + n,
            "web",
            "api",
            f"api-{n}",
        )
        for n in replicas
    ]
    services = [ServicePlan("store", "store", 0, store_port, ())]
    services += [
        ServicePlan(f"api-{n}", "api", n, base_port + 1 + n, (url(store_link.listen_port),))
        for n in replicas
    ]
    services.append(
        ServicePlan("web", "web", 0, base_port, tuple(url(x.listen_port) for x in api_links))
    )
    return services, [store_link, *api_links]


def service_argv(plan: ServicePlan, *, variant: str, data_dir: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", f"chaos.lab.services.{plan.app}", "--port", str(plan.port)]
    if plan.host != LOOPBACK:
        argv += ["--host", plan.host]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    for upstream in plan.upstreams:
        argv += ["--upstream", upstream]
    return [*argv, "--variant", variant]


def clean_env() -> dict[str, str]:
    """Our environment without any lab marker, so no child inherits a wrong identity."""
    return {key: value for key, value in os.environ.items() if key not in LAB_ENV_KEYS}


def service_env(
    plan: ServicePlan, *, lab_id: str, variant: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """The labels live in the service's own environment: the platform selects lab processes
    by reading /proc/<pid>/environ, so a selector can never match a process outside the lab."""
    labels = f"app={plan.app},replica={plan.replica},lab={lab_id},variant={variant}"
    if plan.node is not None:
        labels += f",node={plan.node}"
    return clean_env() | {"CHAOS_LAB_ID": lab_id, "CHAOS_LABELS": labels, **extra}


def is_healthy(base_url: str, *, timeout: float = 0.5, path: str = "/health") -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}{path}", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def ensure_free(port: int, *, purpose: str) -> None:
    with socket.socket() as sock:
        # same option the services' servers use: sockets in TIME_WAIT from a previous lab
        # must not count as busy, only a live listener does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            raise LabStartError(f"port {port} ({purpose}) is busy: {exc}") from exc


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """tmp + rename: a reader sees the old state or the new one, never half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


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


@dataclass
class ProxySupervisor(BaseSupervisor):
    """Services on loopback, every hop through the TCP proxy (no root needed)."""

    base_port: int = 18080

    def __post_init__(self) -> None:
        self.services, self.links = plan_lab(base_port=self.base_port, variant=self.variant)
        self.proxy = ProxyServer(links=self.links, control_port=self.base_port + 9)

    def prepare(self) -> None:
        for plan in self.services:
            ensure_free(plan.port, purpose=plan.name)
        ensure_free(self.base_port + 9, purpose="proxy control API")
        for link in self.links:
            ensure_free(link.listen_port, purpose=f"link {link.name}")
        self.proxy.start()

    def child_specs(self) -> list[ChildSpec]:
        extra = {"CHAOS_LAB_CONTROL": self.proxy.control_url}
        return [
            ChildSpec(
                name=plan.name,
                argv=tuple(service_argv(plan, variant=self.variant)),
                env=service_env(plan, lab_id=self.lab_id, variant=self.variant, extra=extra),
                plan=plan,
            )
            for plan in self.services
        ]

    def state_fields(self) -> dict[str, Any]:
        return {
            "isolation": "process",
            "control_url": self.proxy.control_url,
            "links": [vars(link) for link in self.links],
        }

    def before_stop(self) -> None:
        """Remove toxics first: no fault may outlive the lab."""
        with contextlib.suppress(RuntimeError):  # RuntimeError: the proxy never started
            self.proxy.delete_all_toxics()

    def after_stop(self) -> None:
        self.proxy.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.lab.supervisor")
    parser.add_argument("--lab-id", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--variant", choices=sorted(API_REPLICAS), default="resilient")
    parser.add_argument("--isolation", choices=("process", "netns"), default="process")
    parser.add_argument("--base-port", type=int, default=18080)
    parser.add_argument("--restart-delay", type=float, default=2.0)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=args.state_dir / LOG_FILE,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    common = {
        "lab_id": args.lab_id,
        "state_dir": args.state_dir,
        "variant": args.variant,
        "restart_delay_s": args.restart_delay,
    }
    if args.isolation == "netns":
        from chaos.lab.netns_supervisor import NetnsSupervisor  # needs root; imports ip tools

        return NetnsSupervisor(**common).run()
    return ProxySupervisor(**common, base_port=args.base_port).run()


if __name__ == "__main__":
    sys.exit(main())
