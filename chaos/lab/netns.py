"""The network of a netns lab: one namespace per node, veths into one bridge, tmpfs disks.

Every command is an argv list built by a pure function (``chaos.lab.netns_plan``, whose
names are importable from here too; tests compare them), and run without a shell by
:func:`run`. Every name carries the lab's short id
(``chl-<short>-<node>``, ``chb-<short>``, ``chv-<short>-<tag>``, ``chaos-<short>-<node>``),
so teardown finds what the lab made by name alone — even when the supervisor was
SIGKILLed and left no state — and never touches anything else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from chaos.errors import LabError
from chaos.host import procfs
from chaos.lab.netns_plan import (
    DISK_SIZE_MB,
    PEER_IFNAME,
    RESOLV_CONF,
    SUBNET_PREFIX,
    NetworkPlan,
    NodeNet,
    add_address,
    add_bridge,
    add_default_route,
    add_netns,
    add_veth,
    delete_link,
    delete_netns,
    forward_rule,
    hosts_file,
    in_netns,
    lab_subnet,
    link_up,
    mount_disk,
    netns_pids,
    plan_network,
    routed_overlaps,
    set_master,
    setup_commands,
    short_id,
    unmount,
)

__all__ = [
    "COMMAND_TIMEOUT_S",
    "DISK_SIZE_MB",
    "ETC_NETNS",
    "PEER_IFNAME",
    "RESOLV_CONF",
    "SUBNET_PREFIX",
    "NetworkPlan",
    "NodeNet",
    "add_address",
    "add_bridge",
    "add_default_route",
    "add_netns",
    "add_veth",
    "create_network",
    "delete_link",
    "delete_netns",
    "ensure_subnet_free",
    "forward_rule",
    "hosts_file",
    "in_netns",
    "kill_namespace_processes",
    "lab_subnet",
    "link_up",
    "mount_disk",
    "netns_pids",
    "our_links",
    "our_mounts",
    "our_namespaces",
    "plan_network",
    "routed_overlaps",
    "run",
    "set_master",
    "setup_commands",
    "short_id",
    "teardown",
    "unmount",
    "write_etc_files",
]

# ``ip netns exec NS`` bind-mounts /etc/netns/NS/<file> over /etc/<file> for the command.
ETC_NETNS = Path("/etc/netns")
COMMAND_TIMEOUT_S = 15.0
T = TypeVar("T")
# What ip/umount say when the thing vanished between listing and removing it: success.
_ALREADY_GONE = ("Cannot find device", "No such file or directory", "not mounted")


# --- running them -------------------------------------------------------------------


def run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"`{' '.join(argv)}` could not run: {exc}") from exc
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result


def ensure_subnet_free(plan: NetworkPlan) -> None:
    routes = run(["ip", "-4", "route", "show", "table", "all"]).stdout
    if hits := routed_overlaps(plan.subnet, routes):
        raise LabError(
            f"subnet {plan.subnet} of lab {plan.lab_id!r} is already routed on this host "
            f"({hits[0]}); pick another lab id"
        )


def write_etc_files(plan: NetworkPlan) -> None:
    """Per-node /etc/hosts naming every node (a tiny cluster DNS) and a DNS-less resolv.conf."""
    for node in plan.nodes:
        etc = ETC_NETNS / node.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts_file(plan))
        (etc / "resolv.conf").write_text(RESOLV_CONF)


def create_network(plan: NetworkPlan) -> None:
    """Build namespaces, bridge, veths and disks. The caller tears down on failure."""
    ensure_subnet_free(plan)
    write_etc_files(plan)
    for argv in setup_commands(plan):
        run(argv)
    for node in plan.nodes:
        node.disk.mkdir(parents=True, exist_ok=True)
        run(mount_disk(node))


# --- teardown, by name: works without any state -------------------------------------


def our_namespaces(short: str) -> list[str]:
    listing = run(["ip", "netns", "list"]).stdout
    names = (line.split()[0] for line in listing.splitlines() if line.strip())
    return [name for name in names if name.startswith(f"chl-{short}-")]


def our_links(short: str) -> list[str]:
    """Host-side veths and the bridge (``ip -o link``: "7: name@peer: <...>")."""
    listing = run(["ip", "-o", "link", "show"]).stdout
    names = (line.split(":")[1].strip().split("@")[0] for line in listing.splitlines())
    return [n for n in names if n == f"chb-{short}" or n.startswith(f"chv-{short}-")]


def our_mounts(short: str, home: Path) -> list[Path]:
    """tmpfs mounts named ``chaos-<short>-*`` below the lab's home, deepest first."""
    listing = run(["findmnt", "-rn", "-t", "tmpfs", "-o", "TARGET,SOURCE"], check=False).stdout
    found = []
    for line in listing.splitlines():
        target, _, source = line.partition(" ")
        path = Path(target.replace("\\x20", " "))
        if source.startswith(f"chaos-{short}-") and path.is_relative_to(home):
            found.append(path)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def kill_namespace_processes(namespaces: Iterable[str], *, timeout_s: float = 5.0) -> None:
    """SIGKILL every process in our namespaces (nobody else's process lives there), and
    return once each has exited: a dying process leaves its namespaces before it is done."""
    namespaces = list(namespaces)
    deadline = time.monotonic() + timeout_s
    killed: set[int] = set()
    while True:
        pids = [
            int(p) for ns in namespaces for p in run(netns_pids(ns), check=False).stdout.split()
        ]
        dying = sorted(pid for pid in killed if not procfs.has_exited(pid))
        if not pids and not dying:
            return
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids or dying} in the lab's namespaces survived SIGKILL")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.update(pids)
        time.sleep(0.05)


def teardown(*, lab_id: str, home: Path) -> list[str]:
    """Remove every process, mount, link, namespace and rule of this lab; idempotent.

    Every step runs even if an earlier one failed; the failures are returned (empty
    when everything is gone) so the caller can report them."""
    short = short_id(lab_id)
    plan = plan_network(lab_id=lab_id, home=home, nodes=())
    errors: list[str] = []
    steps = (
        lambda: kill_namespace_processes(our_namespaces(short)),
        lambda: _each(unmount, our_mounts(short, home), lazy_retry=True),
        # Links before namespaces: deleting a host end takes its peer at once, whereas a
        # deleted namespace releases its veths asynchronously.
        lambda: _each(delete_link, our_links(short)),
        lambda: _each(delete_netns, our_namespaces(short)),
        lambda: _remove_forward_rules(plan),
        lambda: _remove_etc_files(short),
    )
    for step in steps:
        try:
            step()
        except LabError as exc:
            errors.append(str(exc))
    return errors


def _each(build: Callable[[T], list[str]], items: Iterable[T], *, lazy_retry: bool = False) -> None:
    for item in items:
        argv = build(item)
        result = run(argv, check=False)
        if result.returncode != 0 and lazy_retry:  # busy: detach now, freed once unused
            result = run([argv[0], "-l", *argv[1:]], check=False)
        if result.returncode != 0 and not any(gone in result.stderr for gone in _ALREADY_GONE):
            raise LabError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")


def _remove_forward_rules(plan: NetworkPlan) -> None:
    for _ in range(10):  # normally once; a crashed start may have inserted it twice
        if run(forward_rule(plan, "-C"), check=False).returncode != 0:
            return
        run(forward_rule(plan, "-D"))


def _remove_etc_files(short: str) -> None:
    try:
        for etc in ETC_NETNS.glob(f"chl-{short}-*"):
            shutil.rmtree(etc)
        with contextlib.suppress(OSError):  # only if empty: it may hold others' namespaces
            ETC_NETNS.rmdir()
    except OSError as exc:
        raise LabError(f"cannot remove {ETC_NETNS}/chl-{short}-*: {exc}") from exc
