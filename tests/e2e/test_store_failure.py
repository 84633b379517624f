"""A run whose store fills up mid-fault aborts, reverts every fault and exits 4.

The real CLI runs against a real lab with its SQLite store on a small tmpfs of the
test's own. Once the faults are active (a latency on the api towards the store and a
partition of the store), the tmpfs is filled until ENOSPC. The run must stop at once
(long before the faults' 60 s), say why, show no PASSED, and leave nothing applied: no
toxic on the process lab's proxy's links; in the netns lab (root),
no fault held by any node agent and no chain of ours in any node's iptables.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from chaos.store.repository import sqlite_url
from tests.controller.runs import fill_up
from tests.e2e.conftest import Lab
from tests.e2e.test_halt import Output, active_faults, experiment, lab_for
from tests.support import tmpfs, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="a tmpfs of its own needs root"),
]


def start_run(lab: Lab, path, db: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", str(path), "--lab", lab.state.lab_id],
        env={**lab.env(), "CHAOS_DB": db},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("isolation", ["process", "netns"])
def test_a_store_that_fills_up_mid_run_exits_4_with_every_fault_reverted(
    request, tmp_path, isolation
):
    lab = lab_for(request, isolation)
    path = experiment(tmp_path, f"store-full-{isolation}")
    with tmpfs(tmp_path / "store-disk", "size=4m") as disk:
        process = start_run(lab, path, sqlite_url(disk / "runs.db"))
        out = Output(process)
        try:
            wait_for(
                lambda: out.text.count("applied") >= 2 or process.poll() is not None,
                timeout=60,
                what="both faults to be applied",
            )
            assert process.poll() is None, out.text
            assert active_faults(lab), "the faults should be active before the disk fills"
            fill_up(disk)
            filled_at = time.monotonic()
            process.wait(timeout=30)
        finally:
            process.kill()
            process.wait()
        output = out.finish()
    assert process.returncode == 4, output
    assert time.monotonic() - filled_at < 20, "the run must stop at once, not at the faults' end"
    assert "the run could not be recorded: cannot write " in output
    assert "database or disk is full" in output
    assert "ERROR (exit 4)" in output and "PASSED" not in output
    assert output.count("reverted") >= 2, output  # the terminal still saw every revert
    assert active_faults(lab) == [], output
    assert "(not recorded in the run store: no reports)" in output
