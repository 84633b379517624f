"""The agent's own refusals: checked for every fault before anything is journaled or touched.

Defence in depth: the controller has already planned and checked the request, but a
bug or a stolen token there must not be enough to take a node down. So the agent,
on its own, refuses

- **dangerous targets** (:class:`Refused`, HTTP 422), whatever its scope says:
  PID 1 of the host, kernel threads, the agent itself and each of its ancestors
  (by PID, walking ``PPid``), the container runtime and node daemons (by the base
  name of their executable: kubelet, containerd, dockerd, systemd, ...; see
  :mod:`chaos.host.protected`), and for a
  fault that *signals* its target (``process-kill``) also PID 1 of the target's own
  PID namespace, a container's init: stopping or killing a container goes through
  its runtime (``container-kill``, ``pod-kill``), which knows how to restart it;
- **anything outside its scope** (:class:`OutOfScope`, HTTP 403), see
  :mod:`chaos.agent.scope`.

Faults that *enter* a container's namespaces (network faults, disk-fill, stress)
legitimately use the container's init as their way in, so only the signalling
faults refuse a namespace's PID 1. A PID is never trusted from the request for a
container or pod: the agent resolves it itself from the runtime.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from chaos.agent.scope import Runtime, ScopePolicy
from chaos.errors import ChaosError, FaultError
from chaos.faults.base import FaultRequest, FaultType, Where
from chaos.host import procfs, protected
from chaos.spec.models import TargetKind
from chaos.targets.base import Target

LAB_ID_ENV = "CHAOS_LAB_ID"
SIGNALLING_FAULTS = frozenset({"process-kill"})
_CONTAINERS = frozenset({TargetKind.CONTAINER, TargetKind.POD})


class Refused(FaultError):
    """The agent never acts on this target, whatever its scope (HTTP 422)."""


class OutOfScope(FaultError):
    """The target is outside this agent's configured scope (HTTP 403)."""


def check(fault: FaultType, request: FaultRequest, *, scope: ScopePolicy, node: str) -> None:
    """Raise :class:`Refused` or :class:`OutOfScope` unless the agent may apply ``request``."""
    target = request.target
    if fault.where is Where.CONTROLLER:
        raise Refused(
            f"{fault.name} is applied by the controller through the cluster API, not by an agent",
            target=target.display,
            node=node,
        )
    check_kind(fault, target, node=node)
    if fault.where is Where.RUNTIME:
        _check_runtime_fault(fault, target, scope=scope, node=node)
        return
    if getattr(request.params, "allow_ram_backed", False) and not scope.allow_ram_backed:
        raise OutOfScope(
            f"{fault.name}: allowRamBacked is not permitted by this agent's scope "
            "(start it with --scope-allow-ram-backed)",
            target=target.display,
            node=node,
        )
    _check_lab_control(fault.name, target, node=node)
    if target.pid is None:
        if not scope.node:
            raise OutOfScope(
                f"{fault.name} on {target.display} acts on the node itself, which is outside "
                "this agent's scope (start it with --scope-node)",
                target=target.display,
                node=node,
            )
        return
    check_process(target.pid, fault=fault.name, display=target.display, node=node)
    _check_process_scope(fault.name, target, scope=scope, node=node)


def check_kind(fault: FaultType, target: Target, *, node: str) -> None:
    """Refuse a target kind the fault does not take (checked before anything is resolved)."""
    if target.kind not in fault.target_kinds:
        kinds = ", ".join(sorted(kind.value for kind in fault.target_kinds))
        raise Refused(
            f"{fault.name} acts on {kinds} targets, not on a {target.kind.value}",
            target=target.display,
            node=node,
        )


def check_process(pid: int, *, fault: str, display: str, node: str) -> None:
    """Raise :class:`Refused` when ``pid`` is one the agent never signals or enters."""
    reason = protected.dangerous(pid, signals=fault in SIGNALLING_FAULTS)
    if reason is not None:
        raise Refused(
            f"{fault}: refusing {_named(display, pid)}: {reason}", target=display, node=node
        )


def _named(display: str, pid: int) -> str:
    """The target as the user knows it, with its PID once (local targets show it already)."""
    return display if f"pid {pid}" in display else f"{display} (pid {pid})"


def _check_lab_control(fault: str, target: Target, *, node: str) -> None:
    """The process lab's proxy is driven over HTTP at a URL the request names: an agent
    follows it only to loopback, never to another host on its network."""
    url = target.attributes.get("lab_control")
    if not url:
        return
    parsed = urlsplit(url)
    try:
        address = ipaddress.ip_address(parsed.hostname or "")
    except ValueError:
        address = None
    loopback = parsed.scheme == "http" and address is not None and address.is_loopback
    if not loopback:
        raise Refused(
            f"{fault}: the lab proxy's control URL must be http:// on a loopback address",
            target=target.display,
            node=node,
        )


def _check_process_scope(fault: str, target: Target, *, scope: ScopePolicy, node: str) -> None:
    assert target.pid is not None
    if target.kind in _CONTAINERS:
        runtime = _runtime_of(target.attributes)
        if runtime is not None and runtime in scope.runtimes:
            return
    environ = procfs.read_environ(target.pid) or {}
    if scope.labs and environ.get(LAB_ID_ENV) in scope.labs:
        return
    if scope.cgroups and scope.cgroup_in_scope(procfs.cgroup_paths(target.pid)):
        return
    raise OutOfScope(
        f"{fault}: {_named(target.display, target.pid)} is outside this agent's scope "
        f"(it may act on: {scope.describe()})",
        target=target.display,
        node=node,
    )


def _runtime_of(attributes: Mapping[str, str]) -> Runtime | None:
    scheme, sep, _ = attributes.get("container_id", "").partition("://")
    try:
        return Runtime(scheme) if sep else None
    except ValueError:
        return None


def _check_runtime_fault(
    fault: FaultType, target: Target, *, scope: ScopePolicy, node: str
) -> None:
    """Docker API faults: Docker in scope, not the container the agent runs in. (The
    service has already replaced the request's Docker URL with the node's own.)"""
    if Runtime.DOCKER not in scope.runtimes:
        raise OutOfScope(
            f"{fault.name}: Docker containers are outside this agent's scope "
            "(start it with --scope-runtime docker)",
            target=target.display,
            node=node,
        )
    reference = target.attributes.get("container_id", "")
    if not reference:
        return  # the fault itself says the container is unknown
    from chaos.host import runtimes

    try:
        init = runtimes.resolve(reference)
    except ChaosError:
        return  # not running: the fault reports it; there is no process to protect
    me = os.getpid()
    if init.pid == me or init.pid in procfs.ancestors(me):
        raise Refused(
            f"{fault.name}: {target.display} is the container this agent runs in",
            target=target.display,
            node=node,
        )
