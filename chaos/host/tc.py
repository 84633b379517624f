"""Our root qdisc on a device: tbf for bandwidth, netem for delay/loss where the kernel has it.

We only ever own one thing here: the root qdisc with the fixed handle ``c4a0:``.
Adding refuses to replace a root qdisc somebody configured (anything but a kernel
default or ours) — deleting it would silently undo their traffic shaping; removing
deletes the root only while its handle is ours, after which the kernel puts its
default back. (Trap avoided: flushing every qdisc on the device.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.errors import HostError
from chaos.host.run import NetnsRef, in_netns, run

HANDLE = "c4a0:"
KERNEL_DEFAULTS = frozenset({"noqueue", "pfifo_fast", "fq_codel", "mq", "noop"})


@dataclass(frozen=True)
class RootQdisc:
    kind: str
    handle: str

    @property
    def ours(self) -> bool:
        return self.handle == HANDLE


def show_root_argv(*, dev: str) -> list[str]:
    return ["tc", "qdisc", "show", "dev", dev, "root"]


def parse_root(output: str) -> RootQdisc:
    """Parse ``tc qdisc show dev X root``: ``qdisc <kind> <handle> root ...``."""
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "qdisc":
            return RootQdisc(kind=fields[1], handle=fields[2])
    raise HostError(f"no root qdisc in tc output: {output.strip()!r}")


def _root(*, dev: str, netns_pid: NetnsRef) -> RootQdisc:
    return parse_root(run(in_netns(netns_pid, show_root_argv(dev=dev))).stdout)


def root_qdisc(*, dev: str, netns_pid: NetnsRef) -> str:
    """Kind of the current root qdisc of ``dev`` (``noqueue``, ``tbf``, ...)."""
    return _root(dev=dev, netns_pid=netns_pid).kind


def tbf_argv(
    *, dev: str, rate_bps: int, burst_bytes: int, latency_ms: float, verb: str = "replace"
) -> list[str]:
    """Token bucket on the root: ``rate_bps`` is in bits per second."""
    if rate_bps <= 0 or burst_bytes <= 0 or latency_ms <= 0:
        raise ValueError("tbf needs a positive rate, burst and latency")
    return [
        *["tc", "qdisc", verb, "dev", dev, "root", "handle", HANDLE, "tbf"],
        *["rate", f"{int(rate_bps)}bit", "burst", str(int(burst_bytes))],
        *["latency", f"{latency_ms:g}ms"],
    ]


def netem_argv(
    *,
    dev: str,
    delay_ms: float = 0,
    jitter_ms: float = 0,
    loss_percent: float = 0,
    verb: str = "replace",
) -> list[str]:
    """netem on the root: delay with optional jitter, and random loss."""
    if delay_ms < 0 or jitter_ms < 0 or not 0 <= loss_percent <= 100:
        raise ValueError("netem needs delay/jitter >= 0 and loss in [0, 100]")
    argv = ["tc", "qdisc", verb, "dev", dev, "root", "handle", HANDLE, "netem"]
    if delay_ms or jitter_ms:
        argv += ["delay", f"{delay_ms:g}ms"]
        argv += [f"{jitter_ms:g}ms"] if jitter_ms else []
    if loss_percent:
        argv += ["loss", f"{loss_percent:g}%"]
    return argv


def delete_argv(*, dev: str) -> list[str]:
    return ["tc", "qdisc", "del", "dev", dev, "root", "handle", HANDLE]


def _install(*, dev: str, kind: str, argv: Sequence[str], netns_pid: NetnsRef) -> None:
    """Refuse foreign roots; swap our own root when its kind changes; else replace."""
    current = _root(dev=dev, netns_pid=netns_pid)
    if not current.ours and current.kind not in KERNEL_DEFAULTS:
        raise HostError(
            f"refusing to replace root qdisc {current.kind} {current.handle} on {dev}: "
            "it was not created by chaos and is not a kernel default"
        )
    if current.ours and current.kind != kind:
        run(in_netns(netns_pid, delete_argv(dev=dev)))
    run(in_netns(netns_pid, argv))


def add_tbf(
    *,
    dev: str,
    rate_bps: int,
    burst_bytes: int,
    latency_ms: float,
    netns_pid: NetnsRef,
) -> None:
    """Limit egress of ``dev`` to ``rate_bps`` bits/s (idempotent)."""
    argv = tbf_argv(dev=dev, rate_bps=rate_bps, burst_bytes=burst_bytes, latency_ms=latency_ms)
    _install(dev=dev, kind="tbf", argv=argv, netns_pid=netns_pid)


def add_netem(
    *,
    dev: str,
    delay_ms: float = 0,
    jitter_ms: float = 0,
    loss_percent: float = 0,
    netns_pid: NetnsRef,
) -> None:
    """Delay/lose egress packets of ``dev`` (idempotent); HostError where netem is missing."""
    argv = netem_argv(dev=dev, delay_ms=delay_ms, jitter_ms=jitter_ms, loss_percent=loss_percent)
    _install(dev=dev, kind="netem", argv=argv, netns_pid=netns_pid)


def remove_ours(*, dev: str, netns_pid: NetnsRef) -> bool:
    """Delete the root qdisc if (and only if) it is ours; False when nothing was ours."""
    if not _root(dev=dev, netns_pid=netns_pid).ours:
        return False
    run(in_netns(netns_pid, delete_argv(dev=dev)))
    return True


def _ip_json(argv: list[str], *, netns_pid: NetnsRef) -> list[dict[str, object]]:
    out = run(in_netns(netns_pid, argv)).stdout.strip()
    try:
        return list(json.loads(out or "[]"))
    except ValueError as exc:
        raise HostError(f"unparseable output of {' '.join(argv)}: {out[:200]!r}") from exc


def default_route_dev(netns_pid: NetnsRef) -> str:
    """Device of the IPv4 default route, else the namespace's only non-loopback device."""
    routes = _ip_json(["ip", "-j", "route", "show", "default"], netns_pid=netns_pid)
    for route in routes:
        if route.get("dev"):
            return str(route["dev"])
    links = _ip_json(["ip", "-j", "link", "show"], netns_pid=netns_pid)
    devices = [link["ifname"] for link in links if link.get("ifname") != "lo"]
    if len(devices) == 1:
        return str(devices[0])
    raise HostError(
        f"no default route and {len(devices)} non-loopback devices ({', '.join(devices)}): "
        "name the device explicitly"
    )
