"""chaos.host.kernel: capabilities probed for real, quickly, leaving nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from chaos.host.kernel import Capabilities, probe_capabilities

RUN_NETNS = "/var/run/netns"


def _netns_names() -> set[str]:
    return set(os.listdir(RUN_NETNS)) if os.path.isdir(RUN_NETNS) else set()


@pytest.mark.skipif(os.geteuid() != 0, reason="probing the kernel needs root")
def test_probe_is_fast_truthful_and_leaves_no_namespace() -> None:
    before = _netns_names()
    start = time.monotonic()
    caps = probe_capabilities()
    assert time.monotonic() - start < 1.0
    assert caps.root and caps.iptables and caps.tbf and caps.statistic and caps.redirect
    # netem must agree with what tc itself says in a scratch namespace
    netem = ["unshare", "--net", "--", "tc", "qdisc", "add", "dev", "lo", "root", "netem",
             "delay", "1ms"]  # fmt: skip
    tried = subprocess.run(netem, capture_output=True, check=False)
    assert caps.netem == (tried.returncode == 0)
    assert _netns_names() == before  # scratch namespaces die with their command


def test_capabilities_serialize_and_cgroups_are_read_without_root() -> None:
    caps = probe_capabilities()
    data = json.loads(json.dumps(caps.to_dict()))
    assert set(data) == set(Capabilities.__dataclass_fields__)
    assert isinstance(data["cgroup_v1"], list)
    if os.path.exists("/sys/fs/cgroup/cpu/cgroup.procs"):
        assert "cpu" in caps.cgroup_v1
