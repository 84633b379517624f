"""Report files: refused before anything runs when they cannot be written, written
atomically after; and the earlier run a comparison is made against, from a real
SQLite store or an earlier JSON report."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.controller.events import EventBus, EventKind
from chaos.errors import UsageError
from chaos.report.outputs import (
    ReportFormat,
    ReportOutputs,
    resolve_reference,
    run_report,
)
from chaos.steady.hypothesis import Phase
from chaos.store.repository import RunStore, sqlite_url
from tests.report import samples
from tests.store.run_events import start_run
from tests.support import tmpfs

ROOT = os.geteuid() == 0


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs: unwritable even for root (who ignores permission bits)."""
    if not ROOT:
        pytest.skip("mounting a read-only tmpfs needs root")
    with tmpfs(tmp_path / "ro", "ro,size=1m") as where:
        yield where


def test_an_unwritable_path_is_refused_naming_the_option(read_only_dir: Path) -> None:
    outputs = ReportOutputs.of(junit=read_only_dir / "junit.xml")
    with pytest.raises(UsageError, match=r"--junit .*junit.xml: cannot write there"):
        outputs.check()
    assert list(read_only_dir.iterdir()) == []


def test_nothing_is_created_when_any_path_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    outputs = ReportOutputs.of(
        json=tmp_path / "new" / "deeper" / "run.json", html=blocker / "report.html"
    )
    with pytest.raises(UsageError, match=r"--html .*: .*not-a-dir is not a directory"):
        outputs.check()
    assert not (tmp_path / "new").exists()  # the good path's directory was not made either


def test_a_directory_or_one_file_for_two_reports_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--markdown .*: is a directory"):
        ReportOutputs.of(markdown=tmp_path).check()
    with pytest.raises(UsageError, match=r"--html .*: the same file as --json"):
        ReportOutputs.of(json=tmp_path / "r", html=tmp_path / "r").check()


def test_missing_directories_are_made_and_reports_written_whole(tmp_path: Path) -> None:
    outputs = ReportOutputs.of(json=tmp_path / "reports" / "ci" / "run.json")
    outputs.check()
    assert (tmp_path / "reports" / "ci").is_dir()
    written, problems = outputs.write(samples.passing_document())
    assert (written, problems) == ([tmp_path / "reports" / "ci" / "run.json"], [])
    assert json.loads(written[0].read_text())["kind"] == "ChaosRunReport"
    assert [p.name for p in (tmp_path / "reports" / "ci").iterdir()] == ["run.json"]  # no temp


def test_an_existing_report_is_replaced_and_a_failed_write_is_reported(
    tmp_path: Path, read_only_dir: Path
) -> None:
    old = tmp_path / "run.json"
    old.write_text("old")
    outputs = ReportOutputs({ReportFormat.JSON: old, ReportFormat.MARKDOWN: read_only_dir / "s"})
    written, problems = outputs.write(samples.passing_document())
    assert written == [old]
    assert json.loads(old.read_text())["run"]["id"] == "pass0000abcd"
    assert len(problems) == 1
    assert problems[0].startswith(f"--markdown {read_only_dir / 's'}: cannot write")


# ---------------------------------------------------------------- what to compare with


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    opened = RunStore(sqlite_url(tmp_path / "chaos.db"))
    yield opened
    opened.close()


def stored_run(store: RunStore, run_id: str, status: str, *, experiment: str = "shop") -> None:
    bus = EventBus()
    bus.subscribe(store.recorder())
    start_run(bus, run_id, experiment=experiment)
    bus.emit(
        EventKind.VERDICT,
        run_id=run_id,
        phase=Phase.VERDICT,
        data={"status": status, "exit_code": 0 if status == "passed" else 1, "reasons": []},
    )


def test_latest_pass_is_the_newest_passed_run_of_the_same_experiment(store: RunStore) -> None:
    stored_run(store, "old-pass", "passed")
    stored_run(store, "new-pass", "passed")
    stored_run(store, "newest-fail", "failed")
    stored_run(store, "other-pass", "passed", experiment="other")
    reference = resolve_reference("latest-pass", store=store, experiment="shop")
    assert reference.document is not None
    assert reference.document["run"]["id"] == "new-pass"
    before_new = store.get_run("new-pass")
    assert before_new is not None
    earlier = resolve_reference(
        "latest-pass", store=store, experiment="shop", before=before_new.run.started_at
    )
    assert earlier.document is not None and earlier.document["run"]["id"] == "old-pass"


def test_no_earlier_pass_is_a_note_not_an_error(store: RunStore) -> None:
    reference = resolve_reference("latest-pass", store=store, experiment="shop")
    assert reference.document is None
    assert reference.note == "no earlier passed run of shop in the store: nothing to compare with"
    document = run_report(
        samples.passing_detail(), reference=reference, margin_pct=10, fail_on_regression=True
    )
    assert document["comparison"]["notes"] == [reference.note]
    assert document["gate"]["exit_code"] == 0


def test_an_unknown_run_or_a_foreign_file_is_a_usage_error(store: RunStore, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--compare-to nope: no such run"):
        resolve_reference("nope", store=store, experiment="shop")
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"kind": "Something"}))
    with pytest.raises(UsageError, match="not a chaos run report"):
        resolve_reference(str(foreign), store=store, experiment="shop")
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**samples.passing_document(), "schema_version": 9}))
    with pytest.raises(UsageError, match="schema version 9; this chaos reads version 1"):
        resolve_reference(str(future), store=store, experiment="shop")
    with pytest.raises(UsageError, match="cannot read"):
        resolve_reference(str(tmp_path / "absent.json"), store=store, experiment="shop")
    os.mkfifo(tmp_path / "fifo.json")  # refused at once: a blocking read would hang the run
    for path, kind in ((tmp_path / "fifo.json", "a FIFO"), (Path("/dev/zero"), "a character")):
        with pytest.raises(UsageError, match=f"cannot read: {path} is {kind}"):
            resolve_reference(str(path), store=store, experiment="shop")


def test_an_earlier_json_report_is_compared_with(store: RunStore, tmp_path: Path) -> None:
    earlier = samples.passing_document()
    for row in earlier["verdict"]:
        if row["name"] == "p99":
            row["fault_worst"] = 400.0
    path = tmp_path / "main-run.json"
    path.write_text(json.dumps(earlier))
    reference = resolve_reference(str(path), store=store, experiment="shop-latency")
    document = run_report(
        samples.passing_detail(), reference=reference, margin_pct=10, fail_on_regression=True
    )
    assert [r["summary"] for r in document["comparison"]["regressions"]] == [
        "p99 worst during fault: 400ms → 900ms (+125%)"
    ]
    assert document["gate"]["exit_code"] == 1
