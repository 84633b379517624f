"""Network faults on the process lab: toxics on the lab's own TCP proxies.

Every service-to-service link of the process lab goes through a proxy the lab
runs (``chaos.host.tcpproxy``). A network fault on a lab process becomes a toxic
on the links into or out of it. Toxics carry a TTL, so if the controller dies
the proxy drops the fault by itself (the lease idea, without an agent yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from chaos.errors import FaultError, HostError, RevertError
from chaos.faults.base import FaultRequest, Undo
from chaos.targets.base import Target


class Direction(StrEnum):
    IN = "in"  # traffic to the target from its clients
    OUT = "out"  # traffic from the target to what it calls
    BOTH = "both"


def control_url(fault: str, target: Target) -> str:
    url = target.attributes.get("lab_control")
    if not url:
        raise FaultError(
            f"{fault}: {target.display} is not behind a lab proxy; network faults on other "
            "processes need a node agent",
            target=target.display,
            node=target.node,
        )
    return url


def select_links(
    fault: str,
    target: Target,
    *,
    direction: Direction,
    peers: Iterable[Target],
) -> tuple[str, list[str]]:
    """The control URL and the names of the links this fault acts on (never empty)."""
    from chaos.host import proxyctl  # urllib is imported only when a fault runs

    url = control_url(fault, target)
    peer_apps = {peer.app for peer in peers}
    try:
        links = proxyctl.list_links(url)
    except HostError as exc:
        raise FaultError(f"{fault}: {exc.message}", target=target.display) from exc
    chosen = []
    for link in links:
        outbound = link.client == target.app and (not peer_apps or link.server in peer_apps)
        inbound = link.server == target.app and (not peer_apps or link.client in peer_apps)
        if (direction is not Direction.IN and outbound) or (
            direction is not Direction.OUT and inbound
        ):
            chosen.append(link.name)
    if not chosen:
        wanted = f" to/from {', '.join(sorted(peer_apps))}" if peer_apps else ""
        raise FaultError(
            f"{fault}: no lab link {direction.value}{wanted} for {target.app}",
            target=target.display,
        )
    return url, chosen


def is_lab_proxy(target: Target) -> bool:
    """Whether the target is a process-lab service whose links run through the lab proxy."""
    return bool(target.attributes.get("lab_control"))


def prepare_toxic(
    fault: str,
    request: FaultRequest,
    *,
    direction: Direction,
    peers: Iterable[Target],
    toxic: dict[str, Any],
) -> Undo:
    url, links = select_links(fault, request.target, direction=direction, peers=peers)
    data = {"control": url, "links": links, "toxic_id": request.key, "toxic": toxic}
    return Undo(fault=fault, data=data, backend="lab-proxy")


def apply_toxic(request: FaultRequest, undo: Undo) -> Undo:
    from chaos.host import proxyctl

    data = undo.data
    done: list[str] = []
    try:
        for link in data["links"]:
            proxyctl.put_toxic(
                data["control"],
                link=link,
                toxic_id=data["toxic_id"],
                toxic=dict(data["toxic"]),
                ttl_s=request.ttl_s,
            )
            done.append(link)
    except HostError as exc:
        # undo the links already changed before reporting: nothing is left half-applied
        _delete(data["control"], done, data["toxic_id"])
        raise FaultError(f"{undo.fault}: {exc.message}", target=request.target.display) from exc
    detail = f"{data['toxic']['type']} toxic on {', '.join(data['links'])}"
    return Undo(fault=undo.fault, data=data, detail=detail, backend=undo.backend)


def revert_toxic(undo: Undo) -> None:
    try:
        _delete(undo.data["control"], list(undo.data["links"]), undo.data["toxic_id"])
    except HostError as exc:
        raise RevertError(f"{undo.fault}: {exc.message}") from exc


def _delete(url: str, links: list[str], toxic_id: str) -> None:
    from chaos.host import proxyctl

    for link in links:
        proxyctl.delete_toxic(url, link=link, toxic_id=toxic_id)
