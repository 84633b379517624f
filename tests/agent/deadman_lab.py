"""A real agent process and a small node to break: a network namespace with a process in
it, a loop-mounted ext4 filesystem to fill. Everything is removed at teardown, also when
the test failed (processes by PID only, the namespace and mount by their unique names)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaos.controller.agent_client import AgentClient, AgentCredentials
from chaos.faults import CATALOG, wire
from chaos.faults.base import FaultRequest
from chaos.host import procfs, procs
from chaos.spec.models import TargetKind
from chaos.targets.base import Target
from tests.support import pid_alive, wait_for

TOKEN = "deadman-token-0123456789"


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


@dataclass
class Node:
    netns: str
    target_pid: int
    fill_dir: Path

    def target(self) -> Target:
        return process_target(self.target_pid)

    def iptables(self) -> str:
        return run("ip", "netns", "exec", self.netns, "iptables-save")

    def qdiscs(self) -> str:
        return run("tc", "-n", self.netns, "qdisc", "show", "dev", "dm0")

    def fill_files(self) -> list[str]:
        return sorted(p.name for p in self.fill_dir.iterdir() if p.name.startswith(".chaos-fill"))


def process_target(pid: int) -> Target:
    identity = procfs.identity(pid)
    assert identity is not None
    return Target(
        kind=TargetKind.PROCESS,
        uid=f"{identity.pid}@{identity.start_time}",
        display=f"sleep-{pid}",
        node="dm",
        pid=identity.pid,
        start_time=identity.start_time,
    )


@contextlib.contextmanager
def node(tmp_path: Path) -> Iterator[Node]:
    netns = f"chaos-dm-{secrets.token_hex(3)}"
    image, fill_dir = tmp_path / "fs.img", tmp_path / "fill"
    fill_dir.mkdir()
    target = None
    mounted = False
    try:
        run("ip", "netns", "add", netns)
        run("ip", "-n", netns, "link", "set", "lo", "up")
        # a device with the default route: where the bandwidth fault puts its tbf qdisc
        run("ip", "-n", netns, "link", "add", "dm0", "type", "veth", "peer", "name", "dm1")
        run("ip", "-n", netns, "addr", "add", "10.253.0.1/24", "dev", "dm0")
        run("ip", "-n", netns, "link", "set", "dm0", "up")
        run("ip", "-n", netns, "route", "add", "default", "dev", "dm0")
        run("truncate", "-s", "32M", str(image))
        run("mkfs.ext4", "-q", "-F", str(image))
        run("mount", "-o", "loop", str(image), str(fill_dir))
        mounted = True
        # a lab id in its environment puts it in the agent's scope (--scope-lab)
        target = subprocess.Popen(
            ["ip", "netns", "exec", netns, "sleep", "600"],
            env={**os.environ, "CHAOS_LAB_ID": SCOPE_LAB},
        )
        wait_for(lambda: _in_netns(target.pid, netns), timeout=5, what="the target in its netns")
        yield Node(netns=netns, target_pid=target.pid, fill_dir=fill_dir)
    finally:
        if target is not None:
            target.kill()
            target.wait()
        if mounted:
            subprocess.run(["umount", "-d", str(fill_dir)], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def _in_netns(pid: int, netns: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return False


def request(node: Node | Target, fault: str, fault_id: str, *, ttl_s: float, **params) -> dict:
    req = FaultRequest(
        fault_id=fault_id,
        key=fault_id,
        target=node.target() if isinstance(node, Node) else node,
        params=CATALOG[fault].params(**params),
        ttl_s=ttl_s,
    )
    return wire.request_to_json(req, fault=fault)


def six_faults(node: Node, prefix: str, *, ttl_s: float) -> dict[str, dict]:
    """One fault of each kind that used to outlive a dead agent."""
    return {
        f"{prefix}-loss": request(
            node,
            "network-loss",
            f"{prefix}-loss",
            ttl_s=ttl_s,
            percent=50,
            backend="iptables",
            cidrs=("10.254.0.0/16",),
        ),
        f"{prefix}-bw": request(
            node, "network-bandwidth", f"{prefix}-bw", ttl_s=ttl_s, rate="1mbit"
        ),
        f"{prefix}-part": request(
            node, "network-partition", f"{prefix}-part", ttl_s=ttl_s, cidrs=("10.251.0.0/16",)
        ),
        f"{prefix}-lat": request(
            node,
            "network-latency",
            f"{prefix}-lat",
            ttl_s=ttl_s,
            delay="50ms",
            backend="proxy",
            cidrs=("10.252.0.0/16",),
        ),
        f"{prefix}-cpu": request(node, "cpu-stress", f"{prefix}-cpu", ttl_s=ttl_s, load=5),
        f"{prefix}-fill": request(
            node, "disk-fill", f"{prefix}-fill", ttl_s=ttl_s, path=str(node.fill_dir), size="4MiB"
        ),
    }


SCOPE_LAB = "deadman-test"  # the target process carries it; the agent may act on it


class AgentProcess:
    """``chaos agent serve`` as a real process on loopback; its stderr goes to a file."""

    def __init__(self, journal: Path, log: Path, port: int) -> None:
        token = journal.parent / "token"
        token.write_text(TOKEN + "\n")
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "chaos", "agent", "serve", "--listen", f"127.0.0.1:{port}"]
        argv += ["--node", "dm", "--journal-dir", str(journal), "--token-file", str(token)]
        argv += ["--scope-lab", SCOPE_LAB, "--scope-node"]
        with open(log, "ab") as sink:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=sink)
        self.client = AgentClient(self.url, credentials=AgentCredentials(token=TOKEN))
        wait_for(self._up, timeout=20, what="the agent to serve")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the agent exited: {self.log.read_text()}")
        try:
            return self.client.health()["node"] == "dm"
        except Exception:
            return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def watchdogs(journal: Path) -> list[int]:
    """PIDs of live watchdogs of this journal directory (ours only: the path is unique)."""
    found = []
    for pid in procfs.list_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"chaos.agent.watchdog" in cmdline and str(journal).encode() in cmdline
        if ours and pid_alive(pid):
            found.append(pid)
    return found


def stop_leftovers(journal: Path, fault_ids: list[str]) -> None:
    """Teardown: whatever a failed test left running (our watchdog, our helpers)."""
    for pid in watchdogs(journal):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for fault_id in fault_ids:
        procs.stop_tagged(fault_id)


def reverted_lines(text: str, fault_id: str) -> int:
    return len(re.findall(rf"reverted {re.escape(fault_id)} \(", text))


def wait_gone(what: str, check, *, within_s: float) -> float:
    """Wait until ``check()`` is true; returns how long it took."""
    start = time.monotonic()
    wait_for(check, timeout=within_s, what=what)
    return time.monotonic() - start
