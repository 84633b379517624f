"""Fault catalogue: one small module per fault, listed here by name (no discovery).

Each fault module is imported the first time its fault is looked up, so
``chaos validate`` on a file that uses one fault pays for that fault only.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo

__all__ = ["CATALOG", "FaultRequest", "FaultType", "HostContext", "Undo"]

_ENTRIES: dict[str, str] = {
    "process-kill": "chaos.faults.process_kill:FAULT",
    "network-latency": "chaos.faults.network_latency:FAULT",
    "network-partition": "chaos.faults.network_partition:FAULT",
    "network-loss": "chaos.faults.network_loss:FAULT",
    "network-bandwidth": "chaos.faults.network_bandwidth:FAULT",
    "disk-fill": "chaos.faults.disk_fill:FAULT",
    "cpu-stress": "chaos.faults.stress:CPU_FAULT",
    "memory-stress": "chaos.faults.stress:MEMORY_FAULT",
    "noop": "chaos.faults.noop:FAULT",
    "pod-kill": "chaos.faults.pod:FAULT",
    "node-cordon": "chaos.faults.node:CORDON_FAULT",
    "node-drain": "chaos.faults.node:DRAIN_FAULT",
    "container-kill": "chaos.faults.container:KILL_FAULT",
    "container-stop": "chaos.faults.container:STOP_FAULT",
    "container-pause": "chaos.faults.container:PAUSE_FAULT",
}


class Catalog(Mapping[str, FaultType]):
    """The faults by name; a fault's module is imported on first use."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> FaultType:
        module, _, attribute = self._entries[name].partition(":")  # KeyError if unknown
        # importlib keeps modules: after the first lookup this is a dictionary access
        fault: FaultType = getattr(importlib.import_module(module), attribute)
        if fault.name != name:
            raise RuntimeError(f"catalogue entry {name!r} loads fault {fault.name!r}")
        return fault

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


CATALOG = Catalog(_ENTRIES)
