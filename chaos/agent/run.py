"""Running an agent: wire the service, the HTTP server, signals and the journal recovery."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from chaos.agent.journal import UndoJournal
from chaos.agent.scope import ScopePolicy
from chaos.agent.server import CONTROLLER_ROLE, AgentServer, Auth
from chaos.agent.service import AgentService
from chaos.errors import UsageError
from chaos.faults import CATALOG
from chaos.faults.base import HostContext

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


def serve(config: AgentConfig) -> None:
    """Serve until SIGTERM/SIGINT, then revert every fault and return."""
    server = build_server(config)
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            log.warning("%s: reverting every fault and stopping", signal.Signals(signum).name)
            threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    log.info("agent %s listening on %s", config.node, server.url)
    log.info("agent %s may act on: %s", config.node, config.scope.describe())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.service.shutdown()
        server.server_close()
