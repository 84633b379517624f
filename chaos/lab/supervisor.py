"""The lab supervisor: one process that runs the proxy and keeps the services alive.

``python -m chaos.lab.supervisor --lab-id ID --state-dir DIR --variant V --base-port P
--restart-delay S``. Like a Deployment's controller, it restarts any service that exits
or is killed (after ``--restart-delay``), and it records what runs where in
``DIR/state.json`` so the platform can find the lab's processes and links.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.host.tcpproxy import LOOPBACK, LinkSpec, ProxyServer

STATE_FILE = "state.json"
LOG_FILE = "supervisor.log"
STARTUP_TIMEOUT_S = 20.0
STOP_GRACE_S = 3.0
API_REPLICAS = {"fragile": 1, "resilient": 2}
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


@dataclass
class Child:
    plan: ServicePlan
    process: subprocess.Popen[bytes]
    restarts: int = 0
    restart_at: float | None = None  # set when we noticed it died


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


def service_argv(plan: ServicePlan, *, variant: str) -> list[str]:
    argv = [sys.executable, "-m", f"chaos.lab.services.{plan.app}", "--port", str(plan.port)]
    for upstream in plan.upstreams:
        argv += ["--upstream", upstream]
    return [*argv, "--variant", variant]


def service_env(
    plan: ServicePlan, *, lab_id: str, variant: str, control_url: str
) -> dict[str, str]:
    """The labels live in the service's own environment: the platform selects lab processes
    by reading /proc/<pid>/environ, so a selector can never match a process outside the lab."""
    labels = f"app={plan.app},replica={plan.replica},lab={lab_id},variant={variant}"
    return os.environ | {
        "CHAOS_LAB_ID": lab_id,
        "CHAOS_LABELS": labels,
        "CHAOS_LAB_CONTROL": control_url,
    }


def is_healthy(port: int, *, timeout: float = 0.5) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url(port)}/health", timeout=timeout) as response:
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
class Supervisor:
    lab_id: str
    state_dir: Path
    variant: str
    base_port: int
    restart_delay_s: float
    children: dict[str, Child] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.services, self.links = plan_lab(base_port=self.base_port, variant=self.variant)
        self.proxy = ProxyServer(links=self.links, control_port=self.base_port + 9)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        try:
            self._check_ports()
            self.proxy.start()
            for plan in self.services:
                self.children[plan.name] = Child(plan, self._spawn(plan))
            self._wait_until_healthy()
            self._write_state()
            log.info("lab %s (%s) is up: web at %s", self.lab_id, self.variant, url(self.base_port))
            while not self.stopping.wait(0.1):
                self._supervise_once()
            return 0
        except (LabStartError, OSError) as exc:
            log.error("lab %s cannot start: %s", self.lab_id, exc)
            return 1
        finally:
            self._shutdown()

    def _check_ports(self) -> None:
        for plan in self.services:
            ensure_free(plan.port, purpose=plan.name)
        ensure_free(self.base_port + 9, purpose="proxy control API")
        for link in self.links:
            ensure_free(link.listen_port, purpose=f"link {link.name}")

    def _spawn(self, plan: ServicePlan) -> subprocess.Popen[bytes]:
        env = service_env(
            plan, lab_id=self.lab_id, variant=self.variant, control_url=self.proxy.control_url
        )
        with open(self.state_dir / f"{plan.name}.log", "ab") as out:
            process = subprocess.Popen(
                service_argv(plan, variant=self.variant),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        log.info("started %s (pid %d) on port %d", plan.name, process.pid, plan.port)
        return process

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        pending = set(self.children)
        while pending:
            for name in list(pending):
                child = self.children[name]
                if (code := child.process.poll()) is not None:
                    raise LabStartError(f"{name} exited with code {code} at start; see {name}.log")
                if is_healthy(child.plan.port):
                    pending.discard(name)
            if self.stopping.is_set() or time.monotonic() > deadline:
                raise LabStartError(f"services never became healthy: {sorted(pending)}")
            time.sleep(0.05)

    def _supervise_once(self) -> None:
        now = time.monotonic()
        for name, child in self.children.items():
            if child.restart_at is None and (code := child.process.poll()) is not None:
                log.warning("%s (pid %d) exited with %s", name, child.process.pid, code)
                child.restart_at = now + self.restart_delay_s
            elif child.restart_at is not None and now >= child.restart_at:
                child.process = self._spawn(child.plan)
                child.restarts += 1
                child.restart_at = None
                self._write_state()

    def _write_state(self) -> None:
        services = [
            {
                "name": c.plan.name,
                "app": c.plan.app,
                "replica": c.plan.replica,
                "port": c.plan.port,
                "pid": c.process.pid,
                "url": url(c.plan.port),
                "restarts": c.restarts,
            }
            for c in self.children.values()
        ]
        state = {
            "lab_id": self.lab_id,
            "variant": self.variant,
            "supervisor_pid": os.getpid(),
            "control_url": self.proxy.control_url,
            "restart_delay_s": self.restart_delay_s,
            "started_at": self.started_at,
            "services": services,
            "links": [vars(link) for link in self.links],
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
        """Remove toxics first (nothing may outlive the lab), then stop only our children."""
        with contextlib.suppress(RuntimeError):  # RuntimeError: the proxy never started
            self.proxy.delete_all_toxics()
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
        self._remove_own_state()
        self.proxy.stop()
        log.info("lab %s stopped", self.lab_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.lab.supervisor")
    parser.add_argument("--lab-id", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--variant", choices=sorted(API_REPLICAS), default="resilient")
    parser.add_argument("--base-port", type=int, default=18080)
    parser.add_argument("--restart-delay", type=float, default=2.0)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=args.state_dir / LOG_FILE,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    supervisor = Supervisor(
        lab_id=args.lab_id,
        state_dir=args.state_dir,
        variant=args.variant,
        base_port=args.base_port,
        restart_delay_s=args.restart_delay,
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
