"""The process lab: services on loopback, every hop through the TCP proxy (no root).

The port plan is in docs/lab.md. The proxy (``chaos.host.tcpproxy``) runs inside the
supervisor process, and every toxic is removed before the services stop.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import Any

from chaos.host.tcpproxy import LOOPBACK, LinkSpec, ProxyServer
from chaos.lab.base_supervisor import BaseSupervisor, LabStartError
from chaos.lab.children import API_REPLICAS, ChildSpec, ServicePlan, service_argv, service_env


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


def ensure_free(port: int, *, purpose: str) -> None:
    with socket.socket() as sock:
        # same option the services' servers use: sockets in TIME_WAIT from a previous lab
        # must not count as busy, only a live listener does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            raise LabStartError(f"port {port} ({purpose}) is busy: {exc}") from exc


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
