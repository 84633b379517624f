"""chaos.host.diskfill: df shows the percent, the disk really fills, removal restores it."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.errors import HostError
from chaos.host import diskfill
from tests.support import tmpfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
ROOT = Path("/")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of our own, unmounted at teardown."""
    with tmpfs(tmp_path / "disk") as mount:
        yield mount


def _df_percent(path: Path) -> int:
    df = ["df", "--output=pcent", str(path)]
    out = subprocess.run(df, capture_output=True, text=True, check=True)
    return int(out.stdout.splitlines()[1].strip().rstrip("%"))


def _plan(disk: Path, fault_id: str, **kw: object) -> diskfill.FillPlan:
    # the test disk is a tmpfs: RAM-backed, so it is filled only with the opt-in
    args = {"percent": None, "size_bytes": None, "allow_root_fs": False, "allow_ram_backed": True}
    args |= kw
    return diskfill.fill_plan(root=ROOT, path=str(disk), fault_id=fault_id, **args)


@pytest.mark.parametrize("use_fallocate", [True, False])
def test_fill_reaches_the_percent_and_unfill_restores(disk: Path, use_fallocate: bool) -> None:
    before_pct, before_files = _df_percent(disk), sorted(os.listdir(disk))
    plan = _plan(disk, "f1", percent=60)
    assert plan.fill_path == disk / ".chaos-fill-f1" and "60.0% used" in plan.note
    assert diskfill.fill(plan, fault_id="f1", use_fallocate=use_fallocate) == plan.fill_path
    assert _df_percent(disk) == 60
    again = _plan(disk, "f1", percent=60)  # re-applying rewrites our file, no double fill
    assert again.size_bytes == plan.size_bytes
    diskfill.fill(again, use_fallocate=use_fallocate)
    assert _df_percent(disk) == 60
    assert diskfill.unfill(plan.fill_path) and not diskfill.unfill(plan.fill_path)
    assert (_df_percent(disk), sorted(os.listdir(disk))) == (before_pct, before_files)


def test_full_disk_makes_further_writes_fail_with_enospc(disk: Path) -> None:
    path = diskfill.fill(_plan(disk, "full", percent=100))
    try:
        assert _df_percent(disk) == 100
        with pytest.raises(OSError) as caught, open(disk / "more", "wb") as handle:
            handle.write(b"x" * 65536)
            handle.flush()
            os.fsync(handle.fileno())
        assert caught.value.errno == errno.ENOSPC
    finally:
        diskfill.unfill(path)
        (disk / "more").unlink(missing_ok=True)


def test_nothing_to_do_when_already_above_the_percent(disk: Path) -> None:
    path = diskfill.fill(_plan(disk, "big", size_bytes=12 * 1024 * 1024))
    try:
        plan = _plan(disk, "small", percent=50)
        assert plan.size_bytes == 0 and "nothing to fill" in plan.note
        diskfill.fill(plan)
        assert plan.fill_path.stat().st_size == 0 and _df_percent(disk) == 75
        diskfill.unfill(plan.fill_path)
    finally:
        diskfill.unfill(path)


def test_size_larger_than_free_space_fills_what_is_free(disk: Path) -> None:
    plan = _plan(disk, "huge", size_bytes=1 << 40)
    assert plan.size_bytes == plan.total_bytes - plan.used_bytes and "completely" in plan.note


def test_root_filesystem_is_refused_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="root filesystem"):
        diskfill.fill_plan(root=ROOT, path="/", percent=99, size_bytes=None,
                           allow_root_fs=False, fault_id="r")  # fmt: skip
    plan = diskfill.fill_plan(root=ROOT, path=str(tmp_path), percent=None, size_bytes=0,
                              allow_root_fs=True, fault_id="r")  # fmt: skip
    assert plan.size_bytes == 0


def test_bad_arguments_are_rejected(disk: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        _plan(disk, "x", percent=50, size_bytes=10)
    with pytest.raises(ValueError, match="file name"):
        _plan(disk, "../escape", percent=50)
    with pytest.raises(ValueError, match="not a chaos fill file"):
        diskfill.unfill(disk / "precious")
