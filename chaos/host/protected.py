"""Processes no fault may signal or enter: the checks behind the agent's guards.

Used by the agent before every fault (:mod:`chaos.agent.guards`) and by
``process-kill`` itself, so the controller's own in-process path (the process lab,
a Docker host without an agent) refuses the same targets.
"""

from __future__ import annotations

import os

from chaos.host import procfs

# daemons a fault must never signal or enter, by the base name of their executable
PROTECTED_EXECUTABLES = frozenset(
    {
        "init",
        "systemd",
        "kubelet",
        "k3s",
        "k3s-server",
        "k3s-agent",
        "containerd",
        "dockerd",
        "docker-proxy",
        "docker-init",
        "runc",
        "crun",
        "crio",
        "conmon",
        "sshd",
        "dbus-daemon",
    }
)
PROTECTED_PREFIXES = ("containerd-shim", "systemd-")


def dangerous(pid: int, *, signals: bool, agent_pid: int | None = None) -> str | None:
    """Why ``pid`` must not be touched, or None. ``signals``: the fault sends it a signal."""
    me = os.getpid() if agent_pid is None else agent_pid
    if pid <= 1:
        return "it is PID 1 of the host (init)"
    if pid == me or pid in procfs.ancestors(me):
        return "it is this agent or one of its ancestors (its supervisor, runtime or init)"
    if procfs.is_kernel_thread(pid):
        return "it is a kernel thread"
    name = procfs.executable_name(pid)
    if name is not None and (name in PROTECTED_EXECUTABLES or name.startswith(PROTECTED_PREFIXES)):
        return f"it is {name}, a node daemon the agent never touches"
    if signals and procfs.namespace_pids(pid)[-1:] == [1]:
        return (
            "it is PID 1 of its own PID namespace (a container's init): "
            "kill or stop the container through its runtime instead (container-kill, pod-kill)"
        )
    return None
