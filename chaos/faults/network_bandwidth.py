"""network-bandwidth: limit the target's egress rate with a tbf qdisc.

The qdisc is the device's root with our fixed handle; a device that already
has a non-default root qdisc is refused (we never replace what we did not make).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from chaos.errors import FaultError, HostError
from chaos.faults import kernel_net, lab_links
from chaos.faults.base import FaultRequest, FaultType, HostContext, Undo
from chaos.spec.base import FaultParams

NAME = "network-bandwidth"
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)\s*$", re.IGNORECASE)
_SCALE = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}


def parse_rate(text: str) -> int:
    """``"1mbit"`` → 1_000_000 bits per second (tc's units, decimal)."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"invalid rate {text!r}: use e.g. 500kbit, 1mbit, 1gbit")
    bits = int(float(match.group(1)) * _SCALE[match.group(2).lower()])
    if bits < 8_000:
        raise ValueError(f"rate {text!r} is below 8kbit")
    return bits


class Params(FaultParams):
    rate: str = Field(description="Egress rate: 500kbit, 1mbit, 1gbit.")
    burst: int = Field(
        default=32_768, ge=1_500, le=64 * 1024 * 1024, description="Bucket size in bytes."
    )
    latency: float = Field(
        default=400.0, gt=0, le=10_000, description="Max queueing delay (ms) before packets drop."
    )

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value


def prepare(request: FaultRequest, host: HostContext) -> Undo:
    assert isinstance(request.params, Params)
    if lab_links.is_lab_proxy(request.target):
        raise FaultError(
            f"{NAME} needs a node agent (use the lab's --isolation netns)",
            target=request.target.display,
        )
    netns = kernel_net.require_netns(NAME, request, host)
    dev = kernel_net.default_dev(NAME, netns, host)
    params = request.params
    data = {
        "netns": netns,
        "dev": dev,
        "rate_bps": parse_rate(params.rate),
        "burst": params.burst,
        "latency_ms": params.latency,
    }
    return Undo(fault=NAME, data=data, backend="tbf")


def apply(request: FaultRequest, undo: Undo, host: HostContext) -> Undo:
    from chaos.host import tc

    data = undo.data
    try:
        tc.add_tbf(
            dev=data["dev"],
            rate_bps=data["rate_bps"],
            burst_bytes=data["burst"],
            latency_ms=data["latency_ms"],
            netns_pid=data["netns"],
        )
    except HostError as exc:
        raise FaultError(f"{NAME}: {exc.message}", node=host.node) from exc
    return Undo(NAME, data, f"tbf {data['rate_bps']} bit/s on {data['dev']}", "tbf")


def revert(undo: Undo, host: HostContext) -> None:
    kernel_net.remove_qdisc(undo, host)


FAULT = FaultType(
    name=NAME,
    summary="Limit the target's egress bandwidth (tbf).",
    params=Params,
    prepare=prepare,
    apply=apply,
    revert=revert,
)
