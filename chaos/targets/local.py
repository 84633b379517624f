"""Local process backend: lab processes on this host, selected by their lab labels.

A process is a candidate only if its own environment carries ``CHAOS_LAB_ID``
equal to the run's lab id; its labels come from ``CHAOS_LABELS``
(``app=api,replica=0``). Nothing outside a lab can ever match, whatever the
selector says — the safety property that lets tests run on a shared machine.
"""

from __future__ import annotations

import socket

from chaos.host import procfs
from chaos.spec.models import Selector, TargetKind
from chaos.targets.base import Scope, Target

LAB_ID_ENV = "CHAOS_LAB_ID"
LABELS_ENV = "CHAOS_LABELS"
CONTROL_ENV = "CHAOS_LAB_CONTROL"  # proxy lab: the proxy's control API
AGENT_ENV = "CHAOS_AGENT"  # netns lab: the URL of the agent on the process's node
NODE_ENV = "CHAOS_NODE"
NODE_IP_ENV = "CHAOS_NODE_IP"


def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            labels[key.strip()] = value.strip()
    return labels


class LocalProcessBackend:
    """Processes of a built-in lab on this host."""

    kind = TargetKind.PROCESS

    def __init__(self, *, node: str | None = None) -> None:
        self.node = node or socket.gethostname()

    def candidates(self, *, selector: Selector, scope: Scope) -> list[Target]:
        lab_id = selector.lab or scope.lab_id
        found: list[Target] = []
        for pid in procfs.list_pids():
            target = self._inspect(pid, lab_id)
            if target is not None and _matches(target.labels, selector.labels):
                found.append(target)
        return found

    def exists(self, target: Target) -> bool:
        if target.pid is None or target.start_time is None:
            return False
        return procfs.is_alive(procfs.ProcessIdentity(target.pid, target.start_time))

    def _inspect(self, pid: int, lab_id: str) -> Target | None:
        env = procfs.read_environ(pid)
        if not env or env.get(LAB_ID_ENV) != lab_id:
            return None
        started = procfs.start_time(pid)
        if started is None:
            return None
        labels = parse_labels(env.get(LABELS_ENV, ""))
        labels.setdefault("lab", lab_id)
        name = labels.get("app", "process")
        if "replica" in labels:
            name = f"{name}-{labels['replica']}"
        attributes = {
            attribute: env[variable]
            for attribute, variable in (
                ("lab_control", CONTROL_ENV),
                ("agent", AGENT_ENV),
                ("ip", NODE_IP_ENV),
            )
            if env.get(variable)
        }
        return Target(
            kind=TargetKind.PROCESS,
            uid=f"{pid}@{started}",
            display=f"{name} (pid {pid})",
            node=env.get(NODE_ENV) or self.node,
            labels=labels,
            pid=pid,
            start_time=started,
            attributes=attributes,
        )


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())
