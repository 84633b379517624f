"""The undo journal survives crashes: pending faults are found, torn lines are skipped."""

from chaos.agent.journal import JOURNAL_FILE, UndoJournal


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
