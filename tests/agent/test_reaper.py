"""The lease reaper survives a journal the disk refuses (ENOSPC on a full tmpfs, EROFS on
a read-only remount): leases keep expiring, health names the journal error, nothing
crashes; a dead reaper shows in /v1/health and /healthz answers 503."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chaos.agent.journal import UndoJournal
from chaos.agent.scope import ScopePolicy
from chaos.agent.server import AgentServer, Auth
from chaos.agent.service import AgentService
from chaos.controller.agent_client import AgentClient, AgentCredentials
from chaos.errors import AgentError
from chaos.faults import CATALOG
from chaos.faults.base import FaultType, HostContext
from chaos.host import procs
from tests.agent.deadman_lab import (
    SCOPE_LAB,
    AgentProcess,
    process_target,
    request,
    stop_leftovers,
)
from tests.agent.test_server import free_port, noop_request
from tests.conftest import TOKEN
from tests.support import wait_for

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mounts a tmpfs)")


@contextlib.contextmanager
def tiny_tmpfs(where: Path):
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_up(where: Path) -> Path:
    filler = where / "filler"
    with open(filler, "wb") as out, contextlib.suppress(OSError):  # ENOSPC: full
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def _fill_journal_page(agent: AgentProcess, prefix: str) -> None:
    """Apply noop faults until the agent refuses one: a full tmpfs still takes appends
    into the journal's last, partly used page, so the refusal comes a few faults later."""
    for n in range(200):
        try:
            agent.client.apply(noop_request(f"{prefix}-pad{n}", ttl_s=600))
        except AgentError as exc:
            assert "journal cannot be written" in str(exc)
            return
    raise AssertionError("the agent never refused a fault on a full journal")


def healthz(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@root_only
@pytest.mark.parametrize("breakage", ["full", "read-only"])
def test_the_reaper_keeps_expiring_leases_when_the_journal_cannot_be_written(tmp_path, breakage):
    sleeper = subprocess.Popen(["sleep", "600"], env={**os.environ, "CHAOS_LAB_ID": SCOPE_LAB})
    ids = [f"rp-{breakage}-{n}" for n in range(3)]
    with tiny_tmpfs(tmp_path / "jfs") as jfs:
        journal = jfs / "journal"
        agent = AgentProcess(journal, tmp_path / "agent.log", free_port())
        try:
            target = process_target(sleeper.pid)
            agent.client.apply(request(target, "cpu-stress", ids[0], ttl_s=3, load=5))
            agent.client.apply(request(target, "cpu-stress", ids[1], ttl_s=60, load=5))
            if breakage == "full":
                filler = fill_up(jfs)
            else:
                subprocess.run(["mount", "-o", "remount,ro", str(jfs)], check=True)
            # new faults cannot be journaled once the journal's last page is full too:
            # refused with the reason, nothing applied
            _fill_journal_page(agent, ids[2])
            with pytest.raises(AgentError, match="journal cannot be written") as refused:
                agent.client.apply(request(target, "cpu-stress", ids[2], ttl_s=60, load=5))
            assert refused.value.status == 422  # type: ignore[attr-defined]
            assert not procs.find_tagged(ids[2])
            # the first lease ends with the journal unwritable: reverted all the same
            wait_for(
                lambda: ids[0] in agent.client.health()["journal"]["unwritten_reverts"],
                timeout=6,
                what="lease 0 to end",
            )
            assert not procs.find_tagged(ids[0])
            health = agent.client.health()
            assert health["journal"]["error"].startswith("revert: ")
            assert health["reaper"]["alive"] and health["reaper"]["last_tick_age_s"] < 2
            assert healthz(agent.url) == (200, "ok\n")
            # later leases keep expiring: renew the second one short, watch it go
            assert agent.client.renew([ids[1]], ttl_s=1)["renewed"] == [ids[1]]
            wait_for(lambda: not procs.find_tagged(ids[1]), timeout=6, what="lease 1 to end")
            # the disk recovers: the missing journal lines are written, the error clears
            if breakage == "full":
                filler.unlink()
            else:
                subprocess.run(["mount", "-o", "remount,rw", str(jfs)], check=True)
            wait_for(
                lambda: agent.client.health()["journal"]["error"] is None,
                timeout=10,
                what="the journal lines to be retried",
            )
            assert agent.client.revert_all()["failed"] == []  # the noop pads
            assert UndoJournal(journal).pending() == []
            agent.proc.terminate()
            assert agent.proc.wait(timeout=15) == 0
        finally:
            agent.stop()
            sleeper.kill()
            sleeper.wait()
            stop_leftovers(journal, ids)
    log = (tmp_path / "agent.log").read_text()
    assert "Exception in thread" not in log and "Traceback" not in log, log


def _reaper_killer() -> dict[str, FaultType]:
    """The catalog with a noop whose revert raises what no `except Exception` catches."""

    def revert(undo, host):
        raise SystemExit("simulated interpreter-level failure inside the reaper")

    noop = CATALOG["noop"]
    return {
        "noop": FaultType(noop.name, noop.summary, noop.params, noop.prepare, noop.apply, revert)
    }


def test_a_dead_reaper_shows_in_health_and_healthz(tmp_path):
    service = AgentService(
        node="n1",
        journal=UndoJournal(tmp_path / "journal"),
        catalog=_reaper_killer(),
        host=HostContext(node="n1"),
        scope=ScopePolicy(node=True),  # its noop faults target no process
    )
    service.start()
    server = AgentServer(("127.0.0.1", 0), service=service, auth=Auth(token=TOKEN))
    thread = __import__("threading").Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert healthz(server.url) == (200, "ok\n")
        service.apply(noop_request("r1", ttl_s=0.2))
        assert service.reaper_failed.wait(timeout=5)
        assert healthz(server.url) == (503, "reaper dead\n")
        assert service.health()["reaper"]["alive"] is False
    finally:
        server.shutdown()
        server.server_close()


def test_the_journal_is_compacted_while_the_agent_runs(tmp_path, start_agent):
    agent = start_agent(tmp_path / "journal")
    client = agent.client()
    client.apply(noop_request("keep", ttl_s=600))
    for n in range(40):
        client.apply(noop_request(f"c{n}", ttl_s=600))
        client.revert(f"c{n}")
    journal_file = tmp_path / "journal" / "journal.jsonl"
    assert len(journal_file.read_text().splitlines()) < 130  # bounded, not growing forever
    client.revert("keep")
    assert journal_file.read_text() == ""  # nothing pending: compacted to nothing


def test_an_agent_whose_reaper_died_exits_4_for_its_supervisor(tmp_path):
    port = free_port()
    script = Path(__file__).with_name("agent_with_a_fragile_reaper.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    agent = subprocess.Popen(
        [sys.executable, str(script), str(port), str(tmp_path / "journal"), TOKEN],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        client = AgentClient(f"http://127.0.0.1:{port}", credentials=AgentCredentials(token=TOKEN))
        wait_for(lambda: _answers(client), timeout=20, what="the agent to serve")
        client.apply(noop_request("dies", ttl_s=0.5))
        _, stderr = agent.communicate(timeout=20)
    finally:
        agent.kill()
        agent.wait()
    assert agent.returncode == 4, stderr
    assert "lease reaper died" in stderr and "Exception in thread" not in stderr


def _answers(client) -> bool:
    try:
        return client.health()["node"] == "n1"
    except AgentError:
        return False
