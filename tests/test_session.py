"""The Qt-free application layer: where analyses go, what is audited, how notes are kept."""

from __future__ import annotations

from pathlib import Path

from forensics_app.core.case import Case, Note
from forensics_app.core.session import Session, remove_unfinished


def _evidence(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "evidence" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(name.encode() * 500)
    return path


def test_analyses_outside_and_inside_a_case(tmp_path: Path) -> None:
    session = Session(tmp_path / "out")
    video = _evidence(tmp_path, "a.mp4")
    ((v, out),) = session.plan_analyses([video], None)
    assert v == video and out.parent == tmp_path / "out" and not out.exists()
    case = Case.create(tmp_path / "case", "C-1", "examiner")
    ((_, out),) = session.plan_analyses([video], case)
    assert out == case.analysis_dir("E001")
    assert [e["event"] for e in case.audit_log()][-1] == "analysis queued"


def test_a_cancelled_analysis_leaves_an_audit_line_and_no_folder(tmp_path: Path) -> None:
    session = Session(tmp_path / "out")
    case = Case.create(tmp_path / "case", "C-2", "examiner")
    session.use_case(case)
    ((video, out),) = session.plan_analyses([_evidence(tmp_path, "b.mp4")], case)
    out.mkdir(parents=True)
    (out / ".write-test").write_bytes(b"")  # what an interrupted job may leave
    session.analysis_cancelled(video, out, "analysis cancelled")
    assert not out.exists()
    last = case.audit_log()[-1]
    assert last["event"] == "analysis cancelled" and last["evidence_id"] == "E001"
    assert last["folder_removed"] is True and case.audit_chain_ok()
    finished = tmp_path / "done"
    finished.mkdir()
    (finished / "results.json").write_text("{}")
    assert not remove_unfinished(finished) and finished.exists()


def test_a_failed_analysis_is_audited_in_its_case(tmp_path: Path) -> None:
    session = Session(tmp_path / "out")
    case = Case.create(tmp_path / "case", "C-3", "examiner")
    session.use_case(case)
    ((video, out),) = session.plan_analyses([_evidence(tmp_path, "c.mp4")], case)
    out.mkdir(parents=True)
    session.analysis_failed(video, out, "truncated or corrupt at frame 3")
    last = case.audit_log()[-1]
    assert last["event"] == "analysis failed" and last["evidence_id"] == "E001"
    assert last["error"] == "truncated or corrupt at frame 3" and not out.exists()
    assert case.audit_chain_ok()


def test_a_results_folder_inside_a_case_uses_that_case(tmp_path: Path) -> None:
    case = Case.create(tmp_path / "case", "C-4", "examiner")
    video = _evidence(tmp_path, "d.mp4")
    case.add_evidence(video)
    session = Session(tmp_path / "out")
    session.attach_results_folder(video, case.analysis_dir("E001"))
    assert session.case is not None and session.case.folder == case.folder
    assert session.evidence_id == "E001"
    elsewhere = Session(tmp_path / "out")
    elsewhere.attach_results_folder(video, tmp_path / "plain" / "results")
    assert elsewhere.case is None


def test_held_notes_keep_their_time_and_get_the_evidence_they_are_about(tmp_path: Path
                                                                         ) -> None:
    session = Session(tmp_path / "out")
    session.pending_notes += [Note("2026-12-01T20:13:33+00:00", "mouth blurs", None, 225),
                              Note("2026-12-01T20:14:00+00:00", "whole case remark", None)]
    video = _evidence(tmp_path, "c.mp4")
    saved = session.save_case(tmp_path / "case", "C-3", "examiner", video, None)
    session.flush_notes(saved.case, saved.record.evidence_id)
    assert session.pending_notes == []
    notes = Case.open(tmp_path / "case").notes()
    assert [(n.utc, n.frame, n.evidence_id) for n in notes] == [
        ("2026-12-01T20:13:33+00:00", 225, "E001"), ("2026-12-01T20:14:00+00:00", None, None)]
    session.use_case(saved.case, "E001")
    other = saved.case.add_evidence(_evidence(tmp_path, "d.mp4"))
    assert session.show_video(Path(other.path)) == other.evidence_id
    assert [n.text for n in session.notes()] == ["whole case remark"]


def test_a_note_on_a_second_video_is_about_that_video_before_and_after_it_joins_the_case(
        tmp_path: Path) -> None:
    """Issue 33 (1): with a case open, a note at a frame of a second video was written with
    no exhibit id, then listed (and printed) under E001."""
    first, second = _evidence(tmp_path, "a.mp4"), _evidence(tmp_path, "b.mp4")
    session = Session(tmp_path / "out")
    saved = session.save_case(tmp_path / "case", "C-5", "examiner", first, None)
    session.use_case(saved.case, saved.record.evidence_id)
    session.show_video(first)
    session.add_note("about a.mp4", frame=4)
    assert session.show_video(second) is None  # not in the case yet
    held = session.add_note("about b.mp4 before it is an exhibit", frame=7)
    assert held in session.pending_notes and held.video == str(second)
    assert [n.text for n in session.held_notes()] == [held.text]
    session.show_video(first)
    assert session.held_notes() == [] and [n.text for n in session.notes()] == ["about a.mp4"]
    session.show_video(second)
    session.plan_analyses([second], session.case)  # Ctrl+R in a case: hashed in as E002
    assert session.refresh_evidence() == "E002" and session.pending_notes == []
    session.add_note("about b.mp4 as E002", frame=9)
    notes = Case.open(tmp_path / "case").notes()
    assert [(n.text, n.evidence_id, n.frame) for n in notes] == [
        ("about a.mp4", "E001", 4), ("about b.mp4 before it is an exhibit", "E002", 7),
        ("about b.mp4 as E002", "E002", 9)]
    assert held.utc == notes[1].utc  # the time it was written, not the time it was filed
    reopened = Case.open(tmp_path / "case")
    assert [n.text for n in reopened.notes("E001")] == ["about a.mp4"]
