"""Docker backend: running containers on the Docker hosts of ``spec.docker.hosts``.

The only module that imports the Docker SDK, and only inside functions, so
``chaos --help`` never pays for it. It lists containers for the planner and
carries out the container faults' actions (kill, stop, start, pause, unpause)
for :mod:`chaos.faults.container`. An action takes a :class:`ContainerRef`:
plain data (API URL, container id, names for messages) that a fault keeps in
its Undo, so a revert needs nothing else — not even this run's backend.

Unlike lab processes, containers are not confined to a lab: any *running*
container on the selected hosts whose labels (and name, if given) match is a
candidate, as with Chaos Mesh's or Pumba's selectors. The selector and
``safety.maxTargets`` are what bound the blast radius.

Every Docker failure leaves this module as a :class:`TargetError` naming the
host and its URL (exit 4); no SDK or ``requests`` exception escapes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from chaos.errors import TargetError
from chaos.spec.models import DockerHost, Selector, TargetKind
from chaos.targets.base import Scope, Target

if TYPE_CHECKING:
    from docker import DockerClient

API_TIMEOUT_S = 5.0  # per request; a stop waits its grace period on top of this
RUNTIME_PREFIX = "docker://"  # as Kubernetes writes containerStatuses[].containerID


class ContainerState(StrEnum):
    """Docker's container states, plus ``gone`` for a container that no longer exists."""

    CREATED = "created"
    RESTARTING = "restarting"
    RUNNING = "running"
    REMOVING = "removing"
    PAUSED = "paused"
    EXITED = "exited"
    DEAD = "dead"
    GONE = "gone"


LIVE_STATES = frozenset({ContainerState.RUNNING, ContainerState.PAUSED})


@dataclass(frozen=True)
class ContainerRef:
    """One container on one Docker host, as plain JSON-friendly data."""

    url: str  # Docker API URL; "" = the default engine ($DOCKER_HOST or the local socket)
    container_id: str  # the full id, without the "docker://" prefix
    name: str = ""
    host: str = ""  # the host's name in spec.docker.hosts

    @classmethod
    def from_target(cls, target: Target) -> ContainerRef:
        runtime_id = target.attributes.get("container_id", "")
        if target.kind is not TargetKind.CONTAINER or not runtime_id.startswith(RUNTIME_PREFIX):
            raise TargetError(f"{target.display} is not a Docker container", target=target.display)
        return cls(
            url=target.attributes.get("docker_url", ""),
            container_id=runtime_id.removeprefix(RUNTIME_PREFIX),
            name=target.attributes.get("name", ""),
            host=target.attributes.get("docker_host", target.node),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerRef:
        return cls(
            url=str(data.get("docker_url", "")),
            container_id=str(data["container_id"]),
            name=str(data.get("name", "")),
            host=str(data.get("docker_host", "")),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "docker_url": self.url,
            "container_id": self.container_id,
            "name": self.name,
            "docker_host": self.host,
        }

    def __str__(self) -> str:
        return f"container {self.name or self.container_id[:12]} on {self.host or 'docker'}"


class DockerBackend:
    """Running containers on the configured Docker hosts."""

    kind = TargetKind.CONTAINER

    def __init__(self, hosts: Sequence[DockerHost]) -> None:
        self.hosts = tuple(hosts)

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        del scope  # containers are not confined to a lab (see the module docstring)
        found: list[Target] = []
        for host in self._selected_hosts(selector):
            found.extend(self._running(host, selector))
        return found

    def exists(self, target: Target) -> bool:
        """The very same container (by full id) still exists and runs; paused counts."""
        return state(ContainerRef.from_target(target)) in LIVE_STATES

    def _selected_hosts(self, selector: Selector) -> list[DockerHost]:
        if not selector.hosts:
            return list(self.hosts)
        known = {host.name: host for host in self.hosts}
        unknown = sorted(set(selector.hosts) - set(known))
        if unknown:
            raise TargetError(
                f"unknown docker host(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return [known[name] for name in selector.hosts]

    def _running(self, host: DockerHost, selector: Selector) -> list[Target]:
        filters: dict[str, Any] = {"status": "running"}
        if selector.labels:
            filters["label"] = [f"{key}={value}" for key, value in sorted(selector.labels.items())]
        url = host.url or ""
        with _client(url, host=host.name, subject=describe_host(host.name, url)) as client:
            listed = client.api.containers(filters=filters)
        targets = [_target(host, entry) for entry in listed]
        wanted = set(selector.names)
        return [
            target
            for target in targets
            if (not wanted or target.attributes["name"] in wanted)
            # the daemon filtered already; checked again so no filter quirk widens a selection
            and all(target.labels.get(key) == value for key, value in selector.labels.items())
        ]


def _target(host: DockerHost, entry: Mapping[str, Any]) -> Target:
    """A Target from one entry of the daemon's container list (GET /containers/json)."""
    container_id = str(entry["Id"])
    name = _primary_name(entry.get("Names") or ()) or container_id[:12]
    networks = (entry.get("NetworkSettings") or {}).get("Networks") or {}
    ip = next((net["IPAddress"] for net in networks.values() if net.get("IPAddress")), "")
    attributes = {
        "container_id": f"{RUNTIME_PREFIX}{container_id}",
        "docker_host": host.name,
        "docker_url": host.url or "",
        "name": name,
    }
    if ip:
        attributes["ip"] = ip
    if host.agent:
        attributes["agent"] = host.agent
    return Target(
        kind=TargetKind.CONTAINER,
        uid=f"{host.name}/{container_id}",
        display=f"container {name} on {host.name}",
        node=host.name,
        labels=dict(entry.get("Labels") or {}),
        attributes=attributes,
    )


def _primary_name(names: Sequence[str]) -> str:
    """The container's own name: ``/web`` → ``web`` (legacy links add ``/other/alias``)."""
    stripped = [name.lstrip("/") for name in names]
    return next((name for name in stripped if "/" not in name), stripped[0] if stripped else "")


# ---------------------------------------------------------------- actions (used by faults)


def kill(ref: ContainerRef, *, signal: str) -> None:
    """Send ``signal`` (``KILL``, ``TERM``…) to the container's main process."""
    with _client(ref.url, host=ref.host, subject=str(ref)) as client:
        client.api.kill(ref.container_id, signal=f"SIG{signal}")


def stop(ref: ContainerRef, *, timeout_s: float) -> None:
    """SIGTERM (the image's stop signal), then SIGKILL after ``timeout_s`` seconds."""
    grace = math.ceil(timeout_s)
    with _client(ref.url, host=ref.host, subject=str(ref)) as client:
        client.api.stop(ref.container_id, timeout=grace)  # the SDK adds grace to its timeout


def start(ref: ContainerRef) -> None:
    with _client(ref.url, host=ref.host, subject=str(ref)) as client:
        client.api.start(ref.container_id)


def pause(ref: ContainerRef) -> None:
    with _client(ref.url, host=ref.host, subject=str(ref)) as client:
        client.api.pause(ref.container_id)


def unpause(ref: ContainerRef) -> None:
    with _client(ref.url, host=ref.host, subject=str(ref)) as client:
        client.api.unpause(ref.container_id)


def state(ref: ContainerRef) -> ContainerState:
    """The container's state now; ``GONE`` if the daemon no longer knows it."""
    import docker.errors

    with _client(ref.url, host=ref.host, subject=str(ref)) as client:
        try:
            info = client.api.inspect_container(ref.container_id)
        except docker.errors.NotFound:
            return ContainerState.GONE
    status = str((info.get("State") or {}).get("Status", ""))
    try:
        return ContainerState(status)
    except ValueError:
        raise TargetError(f"{ref} is in an unknown state {status!r}", node=ref.host) from None


# ---------------------------------------------------------------- connection


def describe_host(host: str, url: str) -> str:
    return f"docker host {host or '?'} ({url or 'default: $DOCKER_HOST or the local socket'})"


@contextmanager
def _client(url: str, *, host: str, subject: str) -> Iterator[DockerClient]:
    """A client of the engine at ``url`` ("" = default), closed afterwards. Every failure,
    connecting or inside the block, becomes a TargetError: an unanswering engine names the
    host and URL; the daemon's refusals (404 "is gone", 409 "is not running") name ``subject``."""
    import docker
    import docker.errors
    import requests

    unreachable = (docker.errors.DockerException, requests.RequestException, OSError)
    where = describe_host(host, url)
    try:
        if url:
            client = docker.DockerClient(base_url=url, timeout=API_TIMEOUT_S)
        else:
            client = docker.from_env(timeout=API_TIMEOUT_S)
    except unreachable as exc:
        raise TargetError(f"{where} does not answer: {root_cause(exc)}", node=host) from exc
    try:
        yield client
    except docker.errors.NotFound as exc:
        raise TargetError(f"{subject} is gone", node=host) from exc
    except docker.errors.APIError as exc:
        raise TargetError(f"{subject}: {exc.explanation or exc}", node=host) from exc
    except unreachable as exc:
        raise TargetError(f"{where} does not answer: {root_cause(exc)}", node=host) from exc
    finally:
        client.close()


def root_cause(exc: BaseException) -> str:
    """The innermost reason in a few words ("Connection refused"), not urllib3's whole story."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for link in reversed(chain):
        if isinstance(link, OSError) and link.strerror:
            return link.strerror
    return str(chain[-1]) or type(chain[-1]).__name__
