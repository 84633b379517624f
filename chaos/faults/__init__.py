"""Fault catalogue: one small module per fault, registered here by name (no discovery)."""

from __future__ import annotations

from chaos.faults import network_latency, network_partition, noop, process_kill
from chaos.faults.base import FaultRequest, FaultType, Undo

__all__ = ["CATALOG", "FaultRequest", "FaultType", "Undo"]

CATALOG: dict[str, FaultType] = {
    fault.name: fault
    for fault in (process_kill.FAULT, network_latency.FAULT, network_partition.FAULT, noop.FAULT)
}
