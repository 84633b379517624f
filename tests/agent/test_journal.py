"""The undo journal survives crashes: pending faults are found, torn lines are skipped."""

import contextlib
import os

import pytest

from chaos.agent import watchdog
from chaos.agent.journal import JOURNAL_FILE, UndoJournal
from tests.support import tmpfs


def write_fault(journal: UndoJournal, fault_id: str, *, applied: bool, reverted: bool) -> None:
    journal.prepared(
        fault_id=fault_id,
        fault="noop",
        undo={"fault": "noop", "data": {"v": 1}},
        request={"id": fault_id},
    )
    if applied:
        journal.applied(fault_id=fault_id, undo={"fault": "noop", "data": {"v": 2}})
    if reverted:
        journal.reverted(fault_id=fault_id)


def test_pending_lists_what_was_prepared_and_not_reverted(tmp_path):
    journal = UndoJournal(tmp_path)
    write_fault(journal, "a", applied=True, reverted=True)
    write_fault(journal, "b", applied=True, reverted=False)
    write_fault(journal, "c", applied=False, reverted=False)  # crashed mid-apply
    pending = {p.id: p for p in UndoJournal(tmp_path).pending()}
    assert set(pending) == {"b", "c"}
    assert pending["b"].undo["data"] == {"v": 2} and pending["b"].applied
    assert pending["c"].undo["data"] == {"v": 1} and not pending["c"].applied


def test_torn_and_corrupt_lines_are_skipped_and_counted(tmp_path):
    journal = UndoJournal(tmp_path)
    write_fault(journal, "a", applied=True, reverted=False)
    with (tmp_path / JOURNAL_FILE).open("ab") as raw:
        raw.write(b'[1, 2]\n{"op": "prepared", "id": "b", "fau')  # not an object + torn write
    reread = UndoJournal(tmp_path)
    assert [p.id for p in reread.pending()] == ["a"]
    assert reread.corrupt_lines == 2


def test_compact_keeps_only_pending_faults(tmp_path):
    journal = UndoJournal(tmp_path)
    for name in "abc":
        write_fault(journal, name, applied=True, reverted=name != "b")
    journal.compact()
    lines = (tmp_path / JOURNAL_FILE).read_text().splitlines()
    assert len(lines) == 1 and '"id":"b"' in lines[0]
    assert [p.id for p in UndoJournal(tmp_path).pending()] == ["b"]


def test_the_journal_is_private(tmp_path):
    write_fault(UndoJournal(tmp_path / "j"), "a", applied=False, reverted=False)
    assert ((tmp_path / "j" / JOURNAL_FILE).stat().st_mode & 0o777) == 0o600


def test_the_journal_is_compacted_while_running_not_only_at_restart(tmp_path):
    from chaos.agent.journal import COMPACT_EVERY

    journal = UndoJournal(tmp_path)
    journal.pending()  # what the agent does at start
    write_fault(journal, "long-lived", applied=True, reverted=False)
    for n in range(COMPACT_EVERY):  # a long run of short faults next to a long one
        write_fault(journal, f"f{n}", applied=True, reverted=True)
    lines = (tmp_path / JOURNAL_FILE).read_text().splitlines()
    assert len(lines) < COMPACT_EVERY  # bounded: rewritten at least once on the way
    assert [p.id for p in UndoJournal(tmp_path).pending()] == ["long-lived"]
    journal.reverted(fault_id="long-lived")
    assert (tmp_path / JOURNAL_FILE).read_text() == ""  # nothing pending: nothing kept
    assert not (tmp_path / "journal.tmp").exists()


def test_compaction_keeps_what_a_revert_needs(tmp_path):
    journal = UndoJournal(tmp_path)
    journal.prepared(
        fault_id="a", fault="noop", undo={"fault": "noop", "data": {}}, request={}, lease_until=5.0
    )
    journal.applied(fault_id="a", undo={"fault": "noop", "data": {"v": 2}})
    journal.compact()
    (item,) = UndoJournal(tmp_path).pending()
    assert (item.applied, item.undo["data"], item.lease_until) == (True, {"v": 2}, 5.0)


def test_a_record_after_a_torn_tail_is_not_lost(tmp_path):
    journal = UndoJournal(tmp_path)
    write_fault(journal, "a", applied=True, reverted=False)
    with (tmp_path / JOURNAL_FILE).open("ab") as raw:
        raw.write(b'{"op": "prepared", "id": "b", "fau')  # a crash mid-write
    journal.reverted(fault_id="a")
    assert UndoJournal(tmp_path).pending() == []


def test_the_lease_file_holds_the_expiry_and_goes_with_the_revert(tmp_path):
    journal = UndoJournal(tmp_path)
    journal.prepared(
        fault_id="a", fault="noop", undo={"fault": "noop", "data": {}}, request={}, lease_until=1e9
    )
    assert journal.lease_file("a").stat().st_mtime == 1e9
    journal.renew_lease(fault_id="a", lease_until=2e9)
    assert journal.lease_file("a").stat().st_mtime == 2e9
    journal.reverted(fault_id="a")
    assert not journal.lease_file("a").exists()


def test_any_fault_id_makes_a_safe_lease_file(tmp_path):
    journal = UndoJournal(tmp_path)
    for odd in ("../../etc/passwd", "x" * 300, "a/b", "."):
        journal.prepared(
            fault_id=odd,
            fault="noop",
            undo={"fault": "noop", "data": {}},
            request={},
            lease_until=1e9,
        )
        path = journal.lease_file(odd)
        assert path.parent == tmp_path / "leases" and path.stat().st_mtime == 1e9
        journal.reverted(fault_id=odd)
        assert not path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")
def test_the_watchdog_keeps_reverting_when_the_journal_cannot_be_written(tmp_path):
    """A full disk must not end the dead-man's switch with faults still pending: every
    fault is still reverted, and the missing lines are written once space is back."""
    with tmpfs(tmp_path / "disk", "size=1m") as disk:
        journal = UndoJournal(disk / "journal")
        for n in range(3):
            journal.prepared(
                fault_id=f"w{n}", fault="noop", undo={"fault": "noop"}, request={}, lease_until=0
            )
        _fill_to_page_end(journal)  # tmpfs takes whole pages: the next line needs a new one
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as out, contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                out.write(b"\0" * 65536)
        failed_at: dict[str, float] = {}
        # no agent holds its lock: the watchdog acts, and the full disk refuses every line
        assert watchdog.revert_if_agent_dead(journal, node="n1", failed_at=failed_at) is False
        assert sorted(failed_at) == ["w0", "w1", "w2"]  # each tried, none forgotten
        assert [item.id for item in journal.pending()] == ["w0", "w1", "w2"]
        filler.unlink()
        failed_at.clear()  # as RETRY_FAILED_S later
        assert watchdog.revert_if_agent_dead(journal, node="n1", failed_at=failed_at) is True
        assert journal.pending() == []


def _fill_to_page_end(journal: UndoJournal, page: int = 4096) -> None:
    """Pad the journal with a reverted fault's lines to a few bytes short of a page (its
    lines carry a timestamp, so their length varies by a byte or two)."""
    path = journal.directory / JOURNAL_FILE

    def padded(fault_id: str, pad: str) -> int:
        before = path.stat().st_size
        request = {"p": pad}
        journal.prepared(fault_id=fault_id, fault="noop", undo={"fault": "noop"}, request=request)
        journal.reverted(fault_id=fault_id)
        return path.stat().st_size - before

    fixed = padded("pad0", "")  # the two lines with an empty pad
    room = page - path.stat().st_size % page - 16
    padded("pad1", "x" * (room - fixed if room > fixed else room - fixed + page))
    assert page - 32 < path.stat().st_size % page < page  # no journal line fits
