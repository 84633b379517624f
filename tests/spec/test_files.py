"""Files read on a user's behalf: regular files under a cap; devices and FIFOs refused at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.errors import SpecError
from chaos.faults import CATALOG
from chaos.spec.files import read_user_file
from chaos.spec.loader import load_file, load_gameday_file

REPO = Path(__file__).resolve().parents[2]


def refusal(path: Path | str, **kwargs) -> str:
    with pytest.raises(SpecError) as caught:
        read_user_file(path, **kwargs)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.column) == (str(path), 1, 1)
    return issue.message


def test_a_regular_file_is_read(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: 1\n")
    assert read_user_file(path) == b"a: 1\n"
    link = tmp_path / "link.yaml"
    link.symlink_to(path)  # symlinks are followed: the target is what must be regular
    assert read_user_file(link) == b"a: 1\n"


def test_dev_zero_is_refused_at_once():
    began = time.perf_counter()
    assert (
        refusal("/dev/zero")
        == "cannot read file: /dev/zero is a character device, not a regular file"
    )
    assert time.perf_counter() - began < 0.5


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    # in a child with a timeout: a blocking open would hang this test run forever
    code = (
        "import sys\nfrom chaos.spec.files import read_user_file\n"
        "from chaos.errors import SpecError\n"
        "try: read_user_file(sys.argv[1])\n"
        "except SpecError as exc: print(exc)\n"
    )
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, str(fifo)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert time.perf_counter() - began < 10
    assert (
        result.stdout.strip()
        == f"{fifo}:1:1: cannot read file: {fifo} is a FIFO, not a regular file"
    )


def test_a_symlink_to_a_device_or_a_directory_is_refused(tmp_path):
    link = tmp_path / "x.yaml"
    link.symlink_to("/dev/urandom")
    assert "is a character device, not a regular file" in refusal(link)
    assert "is a directory, not a regular file" in refusal(tmp_path)


def test_size_cap_and_unreadable_names(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 2049)
    assert (
        refusal(big, max_bytes=2048, what="experiment")
        == "experiment is larger than the 2 KiB limit"
    )
    assert refusal(tmp_path / "missing.yaml") == "cannot read file: No such file or directory"
    assert refusal(str(tmp_path / ("x" * 5000))) == "cannot read file: the file name is too long"
    assert "contains a NUL byte" in refusal("a\0b.yaml")


def test_the_loader_reads_through_it(tmp_path):
    with pytest.raises(SpecError, match=r"^/dev/zero:1:1: cannot read file: /dev/zero is a char"):
        load_file("/dev/zero", catalog=CATALOG)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"apiVersion: chaos/v1\nkind: \xff\n")
    with pytest.raises(SpecError, match=r":2:7: the file is not UTF-8 text"):
        load_file(bad, catalog=CATALOG)


def test_a_plan_naming_a_device_or_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "apiVersion: chaos/v1\nkind: GameDay\nmetadata: {name: p}\nspec:\n  steps:\n"
        "    - experiment: fifo.yaml\n    - experiment: /dev/zero\n"
    )
    with pytest.raises(SpecError) as caught:
        load_gameday_file(plan, catalog=CATALOG)
    text = str(caught.value)
    assert f"{tmp_path}/fifo.yaml:1:1: cannot read file: " in text and "is a FIFO" in text
    assert "/dev/zero:1:1: cannot read file: /dev/zero is a character device" in text


def test_a_locustfile_must_be_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "load.py")
    experiment = tmp_path / "exp.yaml"
    text = (REPO / "experiments" / "lab-store-outage-load.yaml").read_text()
    head, _, _ = text.partition("    tasks:")
    assert "load:" in head
    experiment.write_text(text.replace("    tasks:", "    locustfile: load.py\n    xtasks:", 1))
    with pytest.raises(SpecError) as caught:
        load_file(experiment, catalog=CATALOG)
    assert any(
        "spec.load.locustfile: cannot read locustfile" in str(i) and "is a FIFO" in str(i)
        for i in caught.value.issues
    )


def test_a_special_file_is_never_even_opened(tmp_path):
    """Opening some devices acts (/dev/watchdog arms the watchdog). Shown with a FIFO: a
    writer waiting in open() is released the moment anyone opens it for reading."""
    import threading

    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer() -> None:
        with open(fifo, "wb"):  # blocks until a reader opens the FIFO
            opened.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        assert "is a FIFO" in refusal(fifo)
        assert not opened.wait(0.3), "the FIFO was opened for reading"
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
        thread.join(timeout=5)
        os.close(reader)
    assert opened.is_set()
