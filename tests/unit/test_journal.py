"""The write-ahead journal and the staged tables: what the processor relies on after a crash."""

from __future__ import annotations

from ipcoord.platform.journal import Journal, Source
from ipcoord.platform.staged import DELETED, Stage

TOPIC = "ipcoord.intake.submissions.v1"


def _at(offset: int) -> Source:
    return Source(TOPIC, 0, offset)


def test_an_entry_survives_reopening_and_a_crash_is_an_unclean_stop(tmp_path):
    journal = Journal(tmp_path / "j")
    assert journal.was_clean  # a new journal has nothing to apply again
    journal.append("cmd-1", _at(0), b"outcome-1")
    journal.close(clean=False)  # as after kill -9: no clean mark written

    reopened = Journal(tmp_path / "j")
    assert not reopened.was_clean
    assert reopened.get("cmd-1").payload == b"outcome-1"
    assert reopened.get("cmd-1").source == _at(0)
    assert reopened.get("unknown") is None
    reopened.close(clean=True)
    assert Journal(tmp_path / "j").was_clean


def test_the_clean_mark_is_cleared_at_start_so_a_later_crash_is_unclean(tmp_path):
    journal = Journal(tmp_path / "j")
    journal.append("cmd-1", _at(0), b"x")
    journal.close(clean=True)
    Journal(tmp_path / "j").close(clean=False)  # started cleanly, then crashed
    assert not Journal(tmp_path / "j").was_clean


def test_uncommitted_entries_run_from_the_first_uncommitted_offset_to_the_newest():
    journal = Journal(None)
    control = "ipcoord.intake.control.v1"
    journal.append("a", _at(0), b"a")
    journal.append("tick", Source(control, 0, 0), b"tick")  # committed on its own topic
    journal.append("b", _at(1), b"b")
    journal.append("c", _at(2), b"c")
    committed = {(TOPIC, 0): 1, (control, 0): 1}
    # From "b" on, whatever topic later entries came from: applying a contiguous suffix in
    # order gives every key the value of its latest write.
    assert [e.entry_id for e in journal.uncommitted(committed)] == ["b", "c"]
    assert [e.entry_id for e in journal.uncommitted({})] == ["a", "tick", "b", "c"]
    assert list(journal.uncommitted({(TOPIC, 0): 3, (control, 0): 1})) == []


def test_the_journal_keeps_the_newest_entries_only(tmp_path):
    journal = Journal(tmp_path / "j", keep=3)
    for i in range(5):
        journal.append(f"cmd-{i}", _at(i), str(i).encode())
    assert journal.get("cmd-0") is None and journal.get("cmd-1") is None
    assert [e.entry_id for e in journal.uncommitted({})] == ["cmd-2", "cmd-3", "cmd-4"]
    journal.close(clean=False)
    again = Journal(tmp_path / "j", keep=3)
    again.append("cmd-5", _at(5), b"5")
    assert [e.entry_id for e in again.uncommitted({})] == ["cmd-3", "cmd-4", "cmd-5"]


def test_staged_writes_reach_the_tables_only_when_applied():
    cases: dict = {"c-1": "filed"}
    stage = Stage()
    staged = stage.wrap("cases", cases)
    staged["c-1"] = "accepted"
    staged["c-2"] = "filed"
    del staged["c-1"]
    assert "c-1" not in staged and staged.get("c-2") == "filed"
    assert sorted(staged) == ["c-2"] and len(staged) == 1
    assert cases == {"c-1": "filed"}  # nothing applied yet
    writes = stage.take()
    assert writes == [("cases", "c-1", DELETED), ("cases", "c-2", "filed")]
    stage.apply(writes)
    assert cases == {"c-2": "filed"}
    stage.apply(writes)  # applying again changes nothing
    assert cases == {"c-2": "filed"}
