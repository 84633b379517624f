"""Resolve a container reference to its init process on this node.

A node fault on a container or pod enters the container's namespaces through a
host PID (``nsenter -t PID``), but the controller knows the container only by the
reference Kubernetes writes in ``containerStatuses[].containerID``:
``docker://<id>``, ``containerd://<id>`` or ``cri-o://<id>``. The node agent turns
it into a :class:`~chaos.host.procfs.ProcessIdentity` (PID *and* start time, so a
later fault step can tell the container restarted) the way Chaos Mesh's
chaos-daemon does, asking the runtime first:

1. ``docker://`` — the Docker Engine API on its unix socket
   (``GET /containers/<id>/json`` → ``State.Pid``), with plain ``http.client``.
2. ``containerd://``, ``cri-o://`` — the CRI on each configured socket in turn
   (``RuntimeService/ContainerStatus``, verbose: ``info["info"]`` JSON ``pid``),
   see :mod:`chaos.host.cri`.
3. When no runtime API answers (socket absent, refused, no CRI service there), and
   for any other runtime: a scan of ``/proc/*/cgroup`` for processes in a cgroup
   named after the full container id; the one started first is the container's
   init. A path component must be exactly one of (``<id>`` being the full id)::

       <id>                      cgroupfs driver: /docker/<id>, /kubepods/burstable/pod<uid>/<id>,
                                 /<containerd namespace>/<id>
       docker-<id>.scope         Docker with the systemd driver: /system.slice/docker-<id>.scope
       cri-containerd-<id>.scope containerd under Kubernetes' systemd driver:
                                 /kubepods.slice/.../kubepods-…-pod<uid>.slice/cri-containerd-<id>.scope
       crio-<id>.scope           CRI-O with systemd (its monitor's crio-conmon-<id>.scope is *not*
                                 the container and never matches)
       libpod-<id>.scope         Podman

   Any component of any hierarchy counts (cgroup v1 lists one line per controller,
   v2 one ``0::`` line), so nested cgroups under the container's and an agent in
   its own cgroup namespace (``/../../docker/<id>``) still match.

A runtime's own answer is final: "no such container" from the runtime that was
asked is not second-guessed by the scan, and a stopped or paused container is an
error rather than a PID that would take the fault nowhere. Every failure is a
:class:`~chaos.errors.TargetError` naming the container and each way tried.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from chaos.errors import HostError, TargetError
from chaos.host import cri
from chaos.host.procfs import ProcessIdentity

DOCKER_SOCKET = Path("/var/run/docker.sock")
CRI_SOCKETS = (Path("/run/containerd/containerd.sock"), Path("/var/run/crio/crio.sock"))
CRI_SOCKET_ENV = "CHAOS_CRI_SOCKET"
"""An extra CRI socket to ask first (k3s: /run/k3s/containerd/containerd.sock)."""

_REFERENCE = re.compile(r"(?P<runtime>[a-z0-9][a-z0-9.+-]*)://(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]*)")
_CGROUP_SCOPES = "docker|cri-containerd|crio|libpod"  # <scope>-<id>.scope


class ContainerNotFound(TargetError):
    """No runtime on this node knows the container, and no process is in its cgroup."""


class ContainerNotRunning(TargetError):
    """The runtime knows the container but it has no running init (exited, created, paused)."""


@dataclass(frozen=True)
class RuntimeSockets:
    """Where to ask: the Docker socket (None: do not ask Docker), the CRI sockets in
    order, the /proc to read PIDs and cgroups from, and the per-call timeout."""

    docker: Path | None = DOCKER_SOCKET
    cri: tuple[Path, ...] = CRI_SOCKETS
    proc_root: Path = Path("/proc")
    timeout: float = 5.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RuntimeSockets:
        """The defaults, with ``$CHAOS_CRI_SOCKET`` asked first and a ``unix://``
        ``$DOCKER_HOST`` in place of the default Docker socket."""
        env = os.environ if environ is None else environ
        docker_host = env.get("DOCKER_HOST", "")
        docker = Path(docker_host[7:]) if docker_host.startswith("unix://") else DOCKER_SOCKET
        extra = env.get(CRI_SOCKET_ENV, "").strip()
        cri_sockets = CRI_SOCKETS
        if extra:
            cri_sockets = (Path(extra), *(path for path in CRI_SOCKETS if path != Path(extra)))
        return cls(docker=docker, cri=cri_sockets)


@dataclass(frozen=True)
class ContainerRef:
    runtime: str  # "docker", "containerd", "cri-o", ...
    id: str

    def __str__(self) -> str:
        return f"{self.runtime}://{self.id}"


def parse_reference(reference: str) -> ContainerRef:
    """``docker://0f3c…`` → ContainerRef; TargetError for anything else."""
    match = _REFERENCE.fullmatch(reference.strip())
    if match is None:
        raise TargetError(
            f"not a container reference: {reference!r} (expected <runtime>://<id>, "
            "as Kubernetes writes containerStatuses[].containerID)",
            target=reference,
        )
    return ContainerRef(runtime=match["runtime"], id=match["id"])


def resolve(container_id: str, *, sockets: RuntimeSockets | None = None) -> ProcessIdentity:
    """The init process of the running container ``container_id`` on this node.

    Raises ContainerNotRunning when a runtime knows it but it is not running, and
    ContainerNotFound when it is nowhere; both say which ways were tried and why.
    """
    ref = parse_reference(container_id)
    where = sockets or RuntimeSockets.from_environment()
    tried: list[str] = []
    answered_not_found = False
    for way, ask in _api_ways(ref, where):
        try:
            pid = ask()
        except ContainerNotRunning as exc:
            raise ContainerNotRunning(
                f"container {ref} is not running ({way}: {exc.message})", target=str(ref)
            ) from exc
        except TargetError:  # this runtime does not have it; another socket might
            tried.append(f"{way}: no such container")
            answered_not_found = True
        except HostError as exc:
            tried.append(f"{way}: {exc.message}")
        else:
            return _identity(where.proc_root, pid, ref=ref, way=way)
    if not answered_not_found:
        try:
            found = find_by_cgroup(ref.id, proc_root=where.proc_root)
        except HostError as exc:
            tried.append(f"cgroup scan: {exc.message}")
        else:
            if found is not None:
                return found
            tried.append(f"cgroup scan of {where.proc_root}: no process in a cgroup of it")
    raise ContainerNotFound(
        f"container {ref} not found on this node; tried " + "; ".join(tried), target=str(ref)
    )


def _api_ways(ref: ContainerRef, where: RuntimeSockets) -> list[tuple[str, Callable[[], int]]]:
    """The runtime APIs to ask about ``ref``, in order, each as (description, ask)."""
    if ref.runtime == "docker":
        if where.docker is None:
            return []
        docker = where.docker
        return [(f"Docker API at {docker}", lambda: docker_pid(docker, ref.id, where.timeout))]
    if ref.runtime in ("containerd", "cri-o"):
        return [
            (f"CRI at {path}", lambda path=path: cri_pid(path, ref.id, where.timeout))
            for path in where.cri
        ]
    return []  # a runtime we have no client for: the cgroup scan alone


def _identity(proc_root: Path, pid: int, *, ref: ContainerRef, way: str) -> ProcessIdentity:
    stat = _read_stat(proc_root, pid)
    if stat is None:
        raise ContainerNotFound(
            f"container {ref}: {way} reports PID {pid}, but {proc_root} has no such process "
            "(it just exited, or this agent does not share the host's PID namespace: hostPID)",
            target=str(ref),
        )
    return ProcessIdentity(pid, stat[1])


# -- the runtime APIs -----------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def docker_pid(socket_path: Path, container_id: str, timeout: float) -> int:
    """``State.Pid`` of a running container from the Docker Engine API.

    HostError: no answer; TargetError: Docker has no such container;
    ContainerNotRunning: it exists but is not running (or is paused).
    """
    if not socket_path.exists():
        raise HostError("no socket there")
    connection = _UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        connection.request("GET", f"/containers/{quote(container_id, safe='')}/json")
        response = connection.getresponse()
        status, body = response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise HostError(f"no answer: {exc}") from exc
    finally:
        connection.close()
    if status == 404:
        raise TargetError(f"Docker has no container {container_id}")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise HostError(f"HTTP {status} with a body that is not JSON") from exc
    if status != 200:
        message = document.get("message") if isinstance(document, dict) else None
        raise HostError(f"HTTP {status}: {message or 'no message'}")
    state = document.get("State") if isinstance(document, dict) else None
    if not isinstance(state, dict):
        raise HostError("the answer has no State")
    pid = state.get("Pid")
    if not state.get("Running") or state.get("Paused") or not isinstance(pid, int) or pid <= 0:
        raise ContainerNotRunning(f"Docker says it is {state.get('Status') or 'not running'}")
    return pid


def cri_pid(socket_path: Path, container_id: str, timeout: float) -> int:
    """The PID of a running container from the CRI runtime at ``socket_path``."""
    status = cri.container_status(socket_path, container_id, timeout=timeout)
    if status.state is not cri.ContainerState.RUNNING:
        raise ContainerNotRunning(f"the runtime says it is {status.state.name.lower()}")
    if status.pid is None:
        raise HostError("the runtime's verbose status carries no pid")
    return status.pid


# -- the /proc fallback ---------------------------------------------------------------


def cgroup_names_container(path: str, container_id: str) -> bool:
    """Whether the cgroup ``path`` is (or is under) the cgroup of ``container_id``."""
    return _names(path, _container_cgroup(container_id))


def _container_cgroup(container_id: str) -> re.Pattern[str]:
    """A path component that is the container's own cgroup (shapes: module docstring)."""
    escaped = re.escape(container_id)
    return re.compile(rf"{escaped}|(?:{_CGROUP_SCOPES})-{escaped}\.scope")


def _names(path: str, component: re.Pattern[str]) -> bool:
    return any(component.fullmatch(part) for part in path.split("/"))


def find_by_cgroup(container_id: str, *, proc_root: Path = Path("/proc")) -> ProcessIdentity | None:
    """The first-started live process in ``container_id``'s cgroup, or None.

    HostError when ``proc_root`` cannot be listed at all.
    """
    try:
        pids = [int(entry.name) for entry in proc_root.iterdir() if entry.name.isdigit()]
    except OSError as exc:
        raise HostError(f"cannot list {proc_root}: {exc}") from exc
    component = _container_cgroup(container_id)
    best: tuple[int, int] | None = None  # (start time, pid)
    for pid in pids:
        try:
            lines = (proc_root / str(pid) / "cgroup").read_text().splitlines()
        except OSError:  # gone since the listing, or not ours to read
            continue
        if not any(_names(line.split(":", 2)[-1], component) for line in lines):
            continue
        stat = _read_stat(proc_root, pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        if best is None or (stat[1], pid) < best:
            best = (stat[1], pid)
    return ProcessIdentity(best[1], best[0]) if best else None


def _read_stat(proc_root: Path, pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of ``pid`` under ``proc_root``; None if gone."""
    try:
        stat = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces
    fields = stat[stat.rfind(")") + 2 :].split()
    return (fields[0], int(fields[19])) if len(fields) > 19 else None
