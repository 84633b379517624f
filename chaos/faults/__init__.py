"""Fault catalogue: one small module per fault, registered here by name (no discovery)."""

from __future__ import annotations

from chaos.faults import (
    disk_fill,
    network_bandwidth,
    network_latency,
    network_loss,
    network_partition,
    noop,
    process_kill,
    stress,
)
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo

__all__ = ["CATALOG", "FaultRequest", "FaultType", "HostContext", "Undo"]

CATALOG: dict[str, FaultType] = {
    fault.name: fault
    for fault in (
        process_kill.FAULT,
        network_latency.FAULT,
        network_partition.FAULT,
        network_loss.FAULT,
        network_bandwidth.FAULT,
        disk_fill.FAULT,
        stress.CPU_FAULT,
        stress.MEMORY_FAULT,
        noop.FAULT,
    )
}
