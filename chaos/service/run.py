"""Running the controller service: open the store, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from chaos.controller.webhooks import WebhookNotifier
from chaos.errors import UsageError
from chaos.runner.launch import RunSettings
from chaos.schedule.scheduler import Scheduler
from chaos.service.api import ServiceState
from chaos.service.auth import ControllerAuth
from chaos.service.limits import HttpLimits
from chaos.service.runs import RunManager
from chaos.service.server import ControllerServer
from chaos.store.repository import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    host: str
    port: int
    database_url: str
    token: str | None = None
    tls: tuple[Path, Path, Path] | None = None  # cert, key, CA of client certificates (mTLS)
    client_role: str | None = None  # the OU a client certificate must name (mTLS)
    run_settings: RunSettings = field(default_factory=RunSettings)
    webhooks: WebhookNotifier | None = None
    schedules: bool = True  # fire schedules (only the leading controller does)
    command_probes: bool = False  # --allow-command-probes: API callers may run commands
    limits: HttpLimits = field(default_factory=HttpLimits)


def build_server(config: ServiceConfig) -> ControllerServer:
    if config.token is None and config.tls is None:
        raise UsageError(
            "the controller service needs credentials: a token file, mutual TLS, or both"
        )
    if config.client_role is not None and config.tls is None:
        raise UsageError("--tls-client-role needs mutual TLS (--tls-cert, --tls-key, --tls-ca)")
    ssl_context = None
    if config.tls is not None:
        from chaos.host.tls import server_context

        cert, key, ca = config.tls
        ssl_context = server_context(cert=cert, key=key, ca=ca)
    # runs started here (submitted or scheduled) may only run commands when allowed
    settings = dataclasses.replace(config.run_settings, command_probes=config.command_probes)
    store = RunStore(config.database_url)
    subscribers = [config.webhooks] if config.webhooks else []
    state = ServiceState(
        store=store,
        auth=ControllerAuth(token=config.token, client_role=config.client_role),
        runs=RunManager(store, settings, subscribers=lambda: subscribers),
        scheduler=(
            Scheduler(store, settings, subscribers=subscribers) if config.schedules else None
        ),
        limits=config.limits,
        command_probes=config.command_probes,
    )
    try:
        return ControllerServer((config.host, config.port), state, ssl_context=ssl_context)
    except OSError:
        store.close()
        raise


def serve(config: ServiceConfig) -> None:
    server = build_server(config)
    state = server.state

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: stopping", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    log.info("controller service listening on %s", server.url)
    if state.scheduler is not None:
        state.scheduler.start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if state.scheduler is not None:  # halts scheduled runs in flight, reverted
            state.scheduler.stop()
        if state.runs is not None:  # halt what still runs and wait for its reverts
            state.runs.shutdown()
        if config.webhooks is not None:
            config.webhooks.close(timeout=5)
        state.store.close()
