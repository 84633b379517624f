"""What one agent may act on at all: its scope policy, set when it starts.

The controller decides which targets a run selects; the agent decides, on its own,
whether it is willing to touch them. Whatever is not in scope is refused (403), so a
stolen controller token or a controller bug reaches only what the node's operator
listed here. The default scope is empty: an agent started without any ``--scope-*``
flag refuses every fault (it still answers health and reverts).

A process (or a container's init, once the agent has resolved it) is in scope when
any of these holds:

- ``labs``: its environment carries ``CHAOS_LAB_ID`` equal to one of them (how the
  lab's processes are selected by ``kind: process``);
- ``cgroups``: one of its cgroup paths is, or lies below, one of these prefixes
  (``/kubepods.slice``, ``/system.slice/shop.service``);
- ``runtimes``: it is a container or pod target whose reference names one of these
  runtimes (``docker://``, ``containerd://``, ``cri-o://``), resolved by the agent.

Faults through the Docker API need ``docker`` in ``runtimes``; faults without any
process (on the node itself) need ``node``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from chaos.errors import UsageError

_LAB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ENTRIES = 64


class Runtime(StrEnum):
    """Container runtimes, spelled as in a container reference (``docker://<id>``)."""

    DOCKER = "docker"
    CONTAINERD = "containerd"
    CRIO = "cri-o"


@dataclass(frozen=True)
class ScopePolicy:
    labs: tuple[str, ...] = ()
    cgroups: tuple[str, ...] = ()
    runtimes: frozenset[Runtime] = frozenset()
    node: bool = False  # faults with no process target act on the node itself
    # tmpfs directories an operator marked as fillable disks (the netns lab's node disks)
    ram_disks: tuple[Path, ...] = ()
    # let a disk-fill request opt into any RAM-backed filesystem (allowRamBacked: true)
    allow_ram_backed: bool = False

    def __post_init__(self) -> None:
        for name in ("labs", "cgroups", "ram_disks"):
            if len(getattr(self, name)) > MAX_ENTRIES:
                raise UsageError(f"scope: at most {MAX_ENTRIES} {name}")
        for lab in self.labs:
            if not _LAB_ID.match(lab):
                raise UsageError(f"scope: lab id {lab!r} is not a lab id (letters, digits, ._-)")
        for prefix in self.cgroups:
            if not prefix.startswith("/") or "\0" in prefix or "/../" in f"{prefix}/":
                raise UsageError(f"scope: cgroup prefix {prefix!r} must be an absolute path")
        for disk in self.ram_disks:
            if not disk.is_absolute():
                raise UsageError(f"scope: RAM disk {disk} must be an absolute path")

    @classmethod
    def from_flags(
        cls,
        *,
        labs: list[str],
        cgroups: list[str],
        runtimes: list[str],
        node: bool,
        ram_disks: list[Path],
        allow_ram_backed: bool,
    ) -> ScopePolicy:
        try:
            kinds = frozenset(Runtime(r) for r in runtimes)
        except ValueError as exc:
            known = ", ".join(r.value for r in Runtime)
            raise UsageError(f"scope: unknown runtime in {runtimes} (known: {known})") from exc
        return cls(
            labs=tuple(labs),
            cgroups=tuple(c.rstrip("/") or "/" for c in cgroups),
            runtimes=kinds,
            node=node,
            ram_disks=tuple(ram_disks),
            allow_ram_backed=allow_ram_backed,
        )

    @property
    def empty(self) -> bool:
        return not (self.labs or self.cgroups or self.runtimes or self.node)

    def describe(self) -> str:
        """One line for the log and for health: what this agent may touch."""
        if self.empty:
            return "nothing (no --scope-* flag: every fault is refused)"
        parts = [f"lab {lab}" for lab in self.labs]
        parts += [f"cgroup {prefix}" for prefix in self.cgroups]
        parts += [f"{runtime} containers" for runtime in sorted(self.runtimes)]
        parts += ["the node itself"] if self.node else []
        return ", ".join(parts)

    def cgroup_in_scope(self, paths: list[str]) -> bool:
        for path in paths:
            for prefix in self.cgroups:
                if prefix in ("/", path) or path.startswith(prefix + "/"):
                    return True
        return False
