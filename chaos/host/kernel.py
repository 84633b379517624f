"""What this kernel can do for network faults, found by trying it in a scratch namespace.

Reading /proc/modules or kernel configs lies (built-ins, missing modules that
autoload, nf_tables shims), so each capability is probed by really adding the qdisc
or rule inside a throwaway network namespace (``unshare --net``) that vanishes with
the command, which is also why the whole probe takes a few tens of ms. The
result picks a backend per fault (netem, else iptables statistic / tbf / the delay
proxy) and is recorded on the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos.errors import HostError
from chaos.host.run import run

PROC_MOUNTS = Path("/proc/mounts")
PROC_CGROUPS = Path("/proc/cgroups")


@dataclass(frozen=True)
class Capabilities:
    root: bool
    netem: bool
    iptables: bool
    nft: bool
    tbf: bool
    redirect: bool
    statistic: bool
    cgroup_v2: bool
    cgroup_v1: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["cgroup_v1"] = list(self.cgroup_v1)
        return data


def _cgroup_mounts() -> tuple[bool, tuple[str, ...]]:
    """(cgroup2 mounted?, controllers mounted as v1 hierarchies), from /proc."""
    try:
        mounts = PROC_MOUNTS.read_text().splitlines()
        known = {line.split()[0] for line in PROC_CGROUPS.read_text().splitlines()[1:] if line}
    except OSError:
        return False, ()
    v2 = False
    v1: set[str] = set()
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        if fields[2] == "cgroup2":
            v2 = True
        elif fields[2] == "cgroup":
            v1 |= {opt for opt in fields[3].split(",") if opt in known}
    return v2, tuple(sorted(v1))


def probe_argvs() -> dict[str, list[str]]:
    """Per capability, one command that succeeds only where the capability works.

    Each runs under ``unshare --net``: a brand-new, empty network namespace that
    disappears with the command, so a probe can never touch the host's rules and an
    agent killed mid-probe leaves nothing behind (a named ``ip netns`` would).
    """
    scratch = ["unshare", "--net", "--"]
    tc_root = [*scratch, "tc", "qdisc", "replace", "dev", "lo", "root"]
    ipt = [*scratch, "iptables", "-w"]
    statistic = ["-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DROP"]
    redirect = ["-p", "tcp", "--dport", "9", "-j", "REDIRECT", "--to-ports", "10"]
    return {
        "tbf": [*tc_root, "tbf", "rate", "1mbit", "burst", "32kb", "latency", "50ms"],
        "netem": [*tc_root, "netem", "delay", "1ms"],
        "iptables": [*ipt, "-S"],
        "statistic": [*ipt, "-A", "OUTPUT", *statistic],
        "redirect": [*ipt, "-t", "nat", "-A", "OUTPUT", *redirect],
        "nft": [*scratch, "nft", "list", "tables"],
    }


def _succeeds(argv: Sequence[str]) -> bool:
    try:
        return run(argv, timeout=5, check=False).ok
    except HostError:
        return False  # the binary is missing or hung: the capability is not usable


def probe_capabilities() -> Capabilities:
    """Probe what this kernel and userland support (needs root for anything but cgroups)."""
    v2, v1 = _cgroup_mounts()
    if os.geteuid() != 0:
        none = dict.fromkeys(("netem", "iptables", "nft", "tbf", "redirect", "statistic"), False)
        return Capabilities(root=False, cgroup_v2=v2, cgroup_v1=v1, **none)
    found = {name: _succeeds(argv) for name, argv in probe_argvs().items()}
    return Capabilities(
        root=True,
        netem=found.get("netem", False),
        iptables=found.get("iptables", False),
        nft=found.get("nft", False),
        tbf=found.get("tbf", False),
        redirect=found.get("redirect", False),
        statistic=found.get("statistic", False),
        cgroup_v2=v2,
        cgroup_v1=v1,
    )
