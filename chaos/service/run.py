"""Running the controller service: open the store, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from chaos.agent.http import Auth
from chaos.controller.webhooks import WebhookNotifier
from chaos.errors import UsageError
from chaos.runner.launch import RunSettings
from chaos.schedule.scheduler import Scheduler
from chaos.service.api import ControllerServer
from chaos.service.runs import RunManager
from chaos.store.repository import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    host: str
    port: int
    database_url: str
    token: str | None = None
    tls: tuple[Path, Path, Path] | None = None  # cert, key, CA of client certificates (mTLS)
    run_settings: RunSettings = field(default_factory=RunSettings)
    webhooks: WebhookNotifier | None = None
    schedules: bool = True  # fire schedules (only the leading controller does)


def build_server(config: ServiceConfig) -> ControllerServer:
    if config.token is None and config.tls is None:
        raise UsageError(
            "the controller service needs credentials: a token file, mutual TLS, or both"
        )
    ssl_context = None
    if config.tls is not None:
        from chaos.host.tls import server_context

        cert, key, ca = config.tls
        ssl_context = server_context(cert=cert, key=key, ca=ca)
    store = RunStore(config.database_url)
    auth = Auth(token=config.token, client_role=None)
    subscribers = [config.webhooks] if config.webhooks else []
    runs = RunManager(store, config.run_settings, subscribers=lambda: subscribers)
    scheduler = (
        Scheduler(store, config.run_settings, subscribers=subscribers) if config.schedules else None
    )
    return ControllerServer(
        (config.host, config.port),
        store=store,
        auth=auth,
        runs=runs,
        scheduler=scheduler,
        ssl_context=ssl_context,
    )


def serve(config: ServiceConfig) -> None:
    server = build_server(config)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: stopping", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    log.info("controller service listening on %s", server.url)
    if server.scheduler is not None:
        server.scheduler.start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if server.scheduler is not None:  # halts scheduled runs in flight, reverted
            server.scheduler.stop()
        if server.runs is not None:  # halt what still runs and wait for its reverts
            server.runs.shutdown()
        if config.webhooks is not None:
            config.webhooks.close(timeout=5)
        server.store.close()
