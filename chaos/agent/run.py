"""Running an agent: wire the service, the HTTP server, signals and the journal recovery."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from chaos.agent.journal import (
    AGENT_LOCK,
    LEASE_DIR,
    WATCHDOG_LOCK,
    UndoJournal,
    hold_lock,
    try_lock,
)
from chaos.agent.scope import ScopePolicy
from chaos.agent.server import CONTROLLER_ROLE, AgentServer, Auth
from chaos.agent.service import AgentService
from chaos.errors import ChaosError, HostError, UsageError
from chaos.faults import CATALOG
from chaos.faults.base import HostContext
from chaos.host import lease, procs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class AgentConfig:
    host: str
    port: int
    node: str
    journal_dir: Path
    token: str | None = None
    tls: TlsFiles | None = None
    scope: ScopePolicy = field(default_factory=ScopePolicy)  # empty: every fault is refused


def build_server(config: AgentConfig, *, probe: bool = True) -> AgentServer:
    """The service (journal recovered, reaper running) behind its HTTP server, not yet serving."""
    if config.token is None and config.tls is None:
        raise UsageError("an agent needs credentials: a token file, mutual TLS, or both")
    capabilities: dict[str, object] = {}
    if probe:
        from chaos.host.kernel import probe_capabilities

        capabilities = probe_capabilities().to_dict()
    service = AgentService(
        node=config.node,
        journal=UndoJournal(config.journal_dir),
        catalog=CATALOG,
        host=HostContext(
            node=config.node,
            capabilities=capabilities,
            ram_disks=tuple(str(disk) for disk in config.scope.ram_disks),
        ),
        scope=config.scope,
    )
    service.start()
    ssl_context = None
    if config.tls is not None:
        from chaos.host.tls import server_context

        ssl_context = server_context(cert=config.tls.cert, key=config.tls.key, ca=config.tls.ca)
    auth = Auth(token=config.token, client_role=CONTROLLER_ROLE if config.tls else None)
    server = AgentServer(
        (config.host, config.port), service=service, auth=auth, ssl_context=ssl_context
    )
    # network faults never cut or delay the agent's own API: the controller must be
    # able to reach it to renew and revert
    service.exempt_control_port(server.server_port)
    return server


AGENT_LOCK_WAIT_S = 30.0  # a watchdog reverting for a dead predecessor holds it briefly


def serve(config: AgentConfig) -> None:
    """Serve until SIGTERM/SIGINT, then revert every fault and return.

    If the lease reaper dies, stop the same way (reverting what it can) and raise, so
    the agent exits 4 and its supervisor restarts it.
    """
    lock_fd = _take_journal(config.journal_dir)
    try:
        # helpers a fault starts (stressors, the delay proxy) inherit this and exit by
        # themselves when their lease file says the lease ended (chaos.host.lease)
        os.environ[lease.LEASE_DIR_ENV] = str(config.journal_dir.resolve() / LEASE_DIR)
        server = build_server(config)
        log.info("agent %s may act on: %s", config.node, config.scope.describe())
        _start_watchdog(config)
        _serve_until_stopped(server)
    finally:
        os.close(lock_fd)
    if server.service.reaper_failed.is_set():
        raise ChaosError(
            "the lease reaper died; what could be reverted was; exiting 4 for a restart"
        )


def _take_journal(journal_dir: Path) -> int:
    """Hold the journal directory's agent lock for this process's whole life: its
    watchdog knows the agent is dead when the kernel drops it."""
    try:
        journal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return hold_lock(
            journal_dir / AGENT_LOCK, timeout_s=AGENT_LOCK_WAIT_S, what="another agent"
        )
    except TimeoutError:
        raise UsageError(
            f"another agent uses the journal directory {journal_dir}; "
            "one agent per journal directory"
        ) from None
    except OSError as exc:
        message = f"cannot use the journal directory {journal_dir}: {exc.strerror}"
        raise UsageError(message) from None


def _start_watchdog(config: AgentConfig) -> None:
    """Start the dead-man's switch (chaos.agent.watchdog) unless one serves this journal."""
    with try_lock(config.journal_dir / WATCHDOG_LOCK) as free:
        if not free:
            log.info("the watchdog of %s is already running", config.journal_dir)
            return
    argv = [sys.executable, "-m", "chaos.agent.watchdog"]
    argv += ["--journal-dir", str(config.journal_dir.resolve()), "--node", config.node]
    try:
        pid = procs.spawn_detached(argv)
    except HostError as exc:  # the leases still protect faults while the agent lives
        log.error("could not start the watchdog: %s", exc.message)
        return
    log.info("watchdog %d guards %s if this agent dies", pid, config.journal_dir)


def _serve_until_stopped(server: AgentServer) -> None:
    stopping = threading.Event()

    def stop(reason: str) -> None:
        if not stopping.is_set():
            stopping.set()
            log.warning("%s: reverting every fault and stopping", reason)
            threading.Thread(target=server.shutdown, daemon=True).start()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum).name)

    def on_reaper_death() -> None:
        server.service.reaper_failed.wait()
        stop("lease reaper died")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    threading.Thread(target=on_reaper_death, name="reaper-watch", daemon=True).start()
    log.info("agent %s listening on %s", server.service.node, server.url)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.service.shutdown()
        server.server_close()
