"""Pin a container or pod target to the host process whose namespaces a node fault enters.

The controller knows a container only by its runtime reference
(``docker://…``, ``containerd://…``, ``cri-o://…``); the PID exists only on the
container's node. So the node agent (or the controller itself, when it runs on
the Docker host and no agent is configured) resolves it right before the fault,
through the runtime's API with a ``/proc`` cgroup scan as fallback
(:mod:`chaos.host.runtimes`). The PID comes with its start time, so every fault
module's existing checks ("is it still the same process?") apply unchanged.
"""

from __future__ import annotations

import dataclasses

from chaos.errors import ChaosError, TargetError
from chaos.faults.base import FaultRequest
from chaos.spec.models import TargetKind

CONTAINER_ID_ATTRIBUTE = "container_id"
CONTAINER_KINDS = frozenset({TargetKind.CONTAINER, TargetKind.POD})


class ContainerGone(TargetError):
    """The container is not running on this node (any more)."""


def pin(request: FaultRequest, *, node: str) -> FaultRequest:
    """``request`` with its target's ``pid``/``start_time`` set from the container runtime.

    Process targets, and targets already pinned, are returned unchanged.
    """
    target = request.target
    if target.kind not in CONTAINER_KINDS or target.pid is not None:
        return request
    reference = target.attributes.get(CONTAINER_ID_ATTRIBUTE)
    if not reference:
        raise ContainerGone(
            f"{target.display} has no started container to act on", target=target.display, node=node
        )
    from chaos.host import runtimes

    try:
        identity = runtimes.resolve(reference)
    except ChaosError as exc:
        raise ContainerGone(
            f"{target.display}: {exc.message}", target=target.display, node=node
        ) from exc
    pinned = dataclasses.replace(target, pid=identity.pid, start_time=identity.start_time)
    return dataclasses.replace(request, target=pinned)
