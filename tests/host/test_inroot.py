"""chaos.host.inroot: a path resolved inside a root never leaves it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaos.errors import HostError
from chaos.host import inroot


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "data").mkdir(parents=True)
    (base / "data" / "marker").write_text("inside")
    os.symlink("/", base / "slash")  # absolute: must mean this root
    os.symlink("../../../../../../..", base / "up")  # relative, far above: clamps
    (tmp_path / "outside").mkdir()
    os.symlink(str(tmp_path / "outside"), base / "out")  # a host path: absent inside
    return base


def opened(root: Path, path: str) -> set[str]:
    with inroot.directory(root, path) as fd:
        return set(os.listdir(fd))


@pytest.mark.parametrize("path", ["/data", "data", "/../../data", "/slash/data", "/up/data"])
def test_every_way_up_ends_at_the_root(root: Path, path: str) -> None:
    assert opened(root, path) == {"marker"}


def test_a_host_path_behind_a_symlink_is_not_found(root: Path) -> None:
    with pytest.raises(inroot.PathNotFound):
        opened(root, "/out")


def test_magic_links_are_refused() -> None:
    with pytest.raises(HostError):
        opened(Path("/"), f"/proc/{os.getpid()}/root/tmp")


def test_nul_bytes_and_huge_paths_are_refused(root: Path) -> None:
    for path in ("/da\0ta", "/" + "a" * 5000):
        with pytest.raises(HostError, match="NUL byte or is too long"):
            opened(root, path)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_ram_backed_filesystems_are_recognised(tmp_path: Path) -> None:
    import subprocess

    from tests.support import tmpfs

    with tmpfs(tmp_path / "mem") as mem, inroot.directory(Path("/"), str(mem)) as fd:
        assert inroot.ram_backed(fd) == "tmpfs"
    root_type = subprocess.run(
        ["findmnt", "-n", "-o", "FSTYPE", "/"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with inroot.directory(Path("/"), "/") as fd:
        assert inroot.ram_backed(fd) == (root_type if root_type in ("tmpfs", "ramfs") else None)
