"""disk-fill resolves its path inside the target's own root: ``..``, absolute and relative
symlinks and magic links never lead out of it; the host's root, the target's root and
RAM-backed filesystems are refused without an explicit opt-in. Each target is a real
process jailed on a tmpfs root in its own mount namespace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.agent.guards import OutOfScope
from chaos.agent.scope import ScopePolicy
from chaos.agent.service import AgentService
from chaos.errors import FaultError
from tests.agent.guard_support import (
    BUSYBOX,
    LAB,
    Proc,
    identity,
    jailed,
    lab_env,
    make_service,
    request,
    started,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces and tmpfs need root"),
    pytest.mark.skipif(BUSYBOX is None, reason="the jail needs a static busybox"),
]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AgentService]:
    agent = make_service(tmp_path, ScopePolicy(labs=(LAB,), allow_ram_backed=True))
    yield agent
    agent.shutdown()


@pytest.fixture
def jail(tmp_path: Path) -> Iterator[Proc]:
    with jailed(tmp_path) as proc:
        yield proc


def fill(proc: Proc, fault_id: str, path: str, **params: object) -> dict:
    return request(
        "disk-fill", fault_id, pid=proc.pid, start_time=proc.start_time, path=path, **params
    )


def inside(proc: Proc, path: str = "") -> Path:
    return Path(f"/proc/{proc.pid}/root") / path.lstrip("/")


def fill_files(directory: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(directory) if n.startswith(".chaos-fill-"))
    except FileNotFoundError:
        return []


def test_a_tmpfs_in_the_target_is_refused_without_the_opt_in(service, jail):
    with pytest.raises(FaultError, match=r"tmpfs.*memory"):
        service.apply(fill(jail, "d-ram", "/data", size="1MiB"))
    assert fill_files(inside(jail, "/data")) == []


def test_with_the_opt_in_the_file_lands_in_the_target_and_revert_removes_it(service, jail):
    service.apply(fill(jail, "d-ok", "/data", size="1MiB", allowRamBacked=True))
    assert fill_files(inside(jail, "/data")) == [".chaos-fill-d-ok"]
    assert (inside(jail, "/data") / ".chaos-fill-d-ok").stat().st_size == 1 << 20
    service.revert("d-ok")
    assert fill_files(inside(jail, "/data")) == []


def test_dot_dot_stops_at_the_targets_root(service, jail, tmp_path):
    """``../../..`` from the jail is the jail's own root (its root filesystem: refused);
    allowed, the file lands there and never in the host's ``/`` or the test's dirs."""
    host_before = fill_files(Path("/"))
    with pytest.raises(FaultError, match="root filesystem"):
        service.apply(fill(jail, "d-up", "/../../..", size="1MiB", allowRamBacked=True))
    params = {"size": "1MiB", "allowRamBacked": True, "allowRootFilesystem": True}
    service.apply(fill(jail, "d-up2", "/data/../../../..", **params))
    assert fill_files(inside(jail)) == [".chaos-fill-d-up2"]
    assert fill_files(Path("/")) == host_before
    service.revert("d-up2")
    assert fill_files(inside(jail)) == []


def test_an_absolute_symlink_is_taken_inside_the_target(service, jail, tmp_path):
    """A symlink planted in the container pointing at a host directory resolves inside
    the container, where that directory does not exist: refused, nothing on the host."""
    host_dir = tmp_path / "host-side"
    host_dir.mkdir()
    os.symlink(str(host_dir), inside(jail, "/out"))
    os.symlink("/", inside(jail, "/slash"))
    with pytest.raises(FaultError, match="cannot open directory"):
        service.apply(fill(jail, "d-abs", "/out", size="1MiB", allowRamBacked=True))
    service.apply(fill(jail, "d-slash", "/slash/data", size="1MiB", allowRamBacked=True))
    assert fill_files(inside(jail, "/data")) == [".chaos-fill-d-slash"]
    assert fill_files(host_dir) == [] and fill_files(Path("/data")) == []
    service.revert("d-slash")


def test_a_relative_symlink_chain_cannot_escape(service, jail, tmp_path):
    os.symlink("../../../../../../../..", inside(jail, "/c1"))
    os.symlink("c1/data", inside(jail, "/c2"))
    escape = "../" * 12 + str(tmp_path).lstrip("/")
    os.symlink(escape, inside(jail, "/c3"))
    with pytest.raises(FaultError, match="cannot open directory"):
        service.apply(fill(jail, "d-rel", "/c3", size="1MiB", allowRamBacked=True))
    assert fill_files(tmp_path) == []
    service.apply(fill(jail, "d-chain", "/c2", size="1MiB", allowRamBacked=True))
    assert fill_files(inside(jail, "/data")) == [".chaos-fill-d-chain"]
    service.revert("d-chain")
    assert fill_files(inside(jail, "/data")) == []


def test_a_planted_fill_name_is_not_written_through(service, jail):
    """A symlink (or hard link) already named like our fill file is replaced, never
    followed: the precious file it points at keeps its content."""
    precious = inside(jail, "/data/precious")
    precious.write_text("keep me")
    os.symlink("/data/precious", inside(jail, "/data/.chaos-fill-d-plant"))
    service.apply(fill(jail, "d-plant", "/data", size="64KiB", allowRamBacked=True))
    assert precious.read_text() == "keep me"
    assert not inside(jail, "/data/.chaos-fill-d-plant").is_symlink()
    service.revert("d-plant")
    assert precious.read_text() == "keep me"


def test_a_target_whose_root_is_the_hosts(service, tmp_path):
    """A process on the host's root: ``/`` is the host's root filesystem, /dev/shm is
    memory, and a /proc magic link is refused; nothing is created anywhere."""
    shm_before = fill_files(Path("/dev/shm"))
    with started(["sleep", "60"], env=lab_env()) as process:
        proc = identity(process.pid)
        with pytest.raises(FaultError, match=r"(host's|target's) root filesystem"):
            service.apply(fill(proc, "h-root", "/", size="1MiB"))
        with pytest.raises(FaultError, match="tmpfs"):
            service.apply(fill(proc, "h-shm", "/dev/shm", size="1MiB"))
        with pytest.raises(FaultError, match="cannot open directory"):
            service.apply(fill(proc, "h-magic", f"/proc/{os.getpid()}/root/tmp", size="1MiB"))
    assert fill_files(Path("/dev/shm")) == shm_before
    assert fill_files(Path("/")) == []
    assert service.list_active() == []


def test_allow_ram_backed_needs_the_scope(tmp_path, jail):
    agent = make_service(tmp_path / "strict", ScopePolicy(labs=(LAB,)))
    try:
        with pytest.raises(OutOfScope, match="--scope-allow-ram-backed"):
            agent.apply(fill(jail, "s-ram", "/data", size="1MiB", allowRamBacked=True))
        assert fill_files(inside(jail, "/data")) == []
    finally:
        agent.shutdown()


def test_a_ram_disk_marked_by_the_scope_needs_no_opt_in(tmp_path):
    """How the netns lab's node disks work: the agent is told which tmpfs is a disk."""
    from tests.support import tmpfs

    with tmpfs(tmp_path / "disk") as disk, started(["sleep", "60"], env=lab_env()) as process:
        scope = ScopePolicy(labs=(LAB,), ram_disks=(disk,))
        agent = make_service(tmp_path, scope, ram_disks=(str(disk),))
        try:
            agent.apply(fill(identity(process.pid), "r-1", str(disk), percent=50))
            assert fill_files(disk) == [".chaos-fill-r-1"]
            agent.revert("r-1")
            assert fill_files(disk) == []
        finally:
            agent.shutdown()


def test_the_fill_is_removed_through_the_host_view_after_the_target_died(service, tmp_path):
    from tests.support import tmpfs

    with tmpfs(tmp_path / "disk") as disk:
        with started(["sleep", "60"], env=lab_env()) as process:
            service.apply(
                fill(identity(process.pid), "g-1", str(disk), size="1MiB", allowRamBacked=True)
            )
            assert fill_files(disk) == [".chaos-fill-g-1"]
        service.revert("g-1")  # the target is gone: its /proc root with it
        assert fill_files(disk) == []
