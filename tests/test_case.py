"""The case folder: metadata, evidence intake and re-verification, notes, append-only audit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from forensics_app.core.case import AUDIT_FILE, CASE_FILE, NOTES_FILE, Case, is_case_folder
from forensics_app.core.errors import ForensicsError

NON_LATIN = "ملاحظة: الوجه يبدو مشوهاً · 王小明 检查了 · Zoë Ñúñez, Ørsted"


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    path = folder / "clip.mp4"
    path.write_bytes(b"not really a video, but evidence all the same" * 100)
    return path


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return Case.create(tmp_path / "case", "K-2026/17", "Zoë Ñúñez")


def test_create_then_open_keeps_metadata(case: Case) -> None:
    reopened = Case.open(case.folder)
    assert (reopened.case_id, reopened.examiner, reopened.created_utc) == \
        ("K-2026/17", "Zoë Ñúñez", case.created_utc)
    assert json.loads((case.folder / CASE_FILE).read_text("utf-8"))["schema"] == \
        "forensics-app/case/v1"
    assert [e["event"] for e in reopened.audit_log()] == ["case created", "case opened"]
    # Atomic rewrites leave no temporary files behind.
    assert not [p for p in case.folder.iterdir() if p.name.endswith(".tmp")]


def test_create_refuses_used_folders(tmp_path: Path, case: Case) -> None:
    with pytest.raises(ForensicsError, match="already exists"):
        Case.create(case.folder, "other", "someone")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ForensicsError, match="non-empty"):
        Case.create(busy, "K-1", "A")
    assert not is_case_folder(busy)


def test_open_refuses_a_non_case(tmp_path: Path) -> None:
    with pytest.raises(ForensicsError, match="not a case folder"):
        Case.open(tmp_path)
    (tmp_path / CASE_FILE).write_text("{broken", encoding="utf-8")
    with pytest.raises(ForensicsError, match="unreadable case file"):
        Case.open(tmp_path)


def test_add_evidence_hashes_at_intake_without_writing_beside_it(case: Case, evidence: Path
                                                                 ) -> None:
    before = sorted(p.name for p in evidence.parent.iterdir())
    record = case.add_evidence(evidence)
    data = evidence.read_bytes()
    assert record.evidence_id == "E001"
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.md5 == hashlib.md5(data).hexdigest()
    assert record.size_bytes == len(data)
    assert record.path == str(evidence.resolve())
    assert sorted(p.name for p in evidence.parent.iterdir()) == before
    assert case.add_evidence(evidence) == record  # the same file keeps its record
    second = evidence.parent / "second.mp4"
    second.write_bytes(b"other")
    assert case.add_evidence(second).evidence_id == "E002"
    assert [r.evidence_id for r in Case.open(case.folder).evidence()] == ["E001", "E002"]
    assert case.analysis_dir("E002") == case.folder / "analyses" / "E002"
    with pytest.raises(ForensicsError, match="no evidence 'E009'"):
        case.analysis_dir("E009")


def test_verify_evidence_reports_changed_and_missing(case: Case, evidence: Path) -> None:
    case.add_evidence(evidence)
    other = evidence.parent / "other.mp4"
    other.write_bytes(b"second file")
    case.add_evidence(other)
    assert [c.status for c in case.verify_evidence()] == ["ok", "ok"]
    with evidence.open("ab") as handle:  # one byte appended: a different file
        handle.write(b"\0")
    other.unlink()
    checks = Case.open(case.folder).verify_evidence()
    assert [c.status for c in checks] == ["changed", "missing"]
    assert checks[0].current_sha256 == hashlib.sha256(evidence.read_bytes()).hexdigest()
    assert checks[1].current_sha256 is None
    verified = [e for e in case.audit_log() if e["event"] == "evidence verified"]
    assert [e["status"] for e in verified] == ["ok", "ok", "changed", "missing"]


def test_notes_keep_any_script(case: Case, evidence: Path) -> None:
    note = case.add_note(NON_LATIN, frame=120,
                         evidence_id=case.add_evidence(evidence).evidence_id)
    case.add_note("second", author="R. Ahmed")
    notes = Case.open(case.folder).notes()
    assert notes[0] == note
    assert (notes[0].text, notes[0].author, notes[0].frame) == (NON_LATIN, "Zoë Ñúñez", 120)
    assert (notes[1].author, notes[1].frame) == ("R. Ahmed", None)


def test_audit_log_is_append_only_and_chained(case: Case, evidence: Path) -> None:
    log = case.folder / AUDIT_FILE
    first = log.read_bytes()
    case.add_evidence(evidence)
    case.audit("exported", pdf="report.pdf", pages=3)
    after = log.read_bytes()
    assert after.startswith(first)  # earlier lines untouched
    rows = case.audit_log()
    assert rows[-1]["event"] == "exported" and rows[-1]["pages"] == 3
    assert all(row["utc"].endswith("+00:00") for row in rows)
    assert case.audit_chain_ok()
    lines = after.decode("utf-8").splitlines()
    lines[1] = lines[1].replace("evidence added", "evidence removed")
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not case.audit_chain_ok()


def test_containing_finds_the_case_of_an_analysis(case: Case, evidence: Path,
                                                  tmp_path: Path) -> None:
    record = case.add_evidence(evidence)
    folder = case.analysis_dir(record.evidence_id)
    folder.mkdir(parents=True)
    found = Case.containing(folder)
    assert found is not None and found[0].case_id == case.case_id and found[1] == "E001"
    assert Case.containing(tmp_path) is None


WRITER = """
import sys
from forensics_app.core.case import Case
case = Case.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    case.audit("concurrent write", writer=sys.argv[3], i=i)
"""


def test_concurrent_audit_writers_keep_the_chain_valid(case: Case, evidence: Path) -> None:
    """Two processes (each with two threads) audit the same case at once: every line is kept
    and each is chained to the one before it (the case locks the read-last-line-and-append
    step across threads and processes)."""
    import subprocess
    import sys
    import threading

    n = 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(case.folder), str(n), f"p{k}"])
             for k in range(2)]

    def write(name: str) -> None:
        other = Case.open(case.folder)  # its own Case object, as a second window would have
        for i in range(n):
            other.audit("concurrent write", writer=name, i=i)

    threads = [threading.Thread(target=write, args=(f"t{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.wait(timeout=120) == 0 for p in procs)
    rows = [r for r in case.audit_log() if r["event"] == "concurrent write"]
    assert len(rows) == 4 * n
    for writer in ("p0", "p1", "t0", "t1"):
        assert [r["i"] for r in rows if r["writer"] == writer] == list(range(n))
    assert case.audit_chain_ok()


def test_notes_keep_their_time_and_evidence(case: Case, evidence: Path, tmp_path: Path) -> None:
    other = tmp_path / "evidence" / "other.mp4"
    other.write_bytes(b"a second clip" * 50)
    first, second = case.add_evidence(evidence), case.add_evidence(other)
    case.add_note("taken before the case existed", frame=225, evidence_id=first.evidence_id,
                  utc="2026-12-01T20:13:33+00:00")
    case.add_note("about the whole case")
    reopened = Case.open(case.folder)
    notes = reopened.notes()
    assert (notes[0].utc, notes[0].frame, notes[0].evidence_id) == \
        ("2026-12-01T20:13:33+00:00", 225, first.evidence_id)
    assert notes[1].evidence_id is None and notes[1].utc != notes[0].utc
    assert [n.text for n in reopened.notes(second.evidence_id)] == ["about the whole case"]
    assert len(reopened.notes(first.evidence_id)) == 2


def test_a_note_about_a_frame_names_its_exhibit_and_an_older_unnamed_one_is_filed_under_none(
        case: Case, evidence: Path, tmp_path: Path) -> None:
    """Older versions wrote notes about a frame with no exhibit id; listing them under the
    open exhibit put a note about one clip into another clip's report."""
    other = tmp_path / "evidence" / "other.mp4"
    other.write_bytes(b"a second clip" * 50)
    first, second = case.add_evidence(evidence), case.add_evidence(other)
    with pytest.raises(ValueError, match="must name the evidence"):
        case.add_note("about a frame of what?", frame=3)
    note = case.add_note("chin edge", frame=3, evidence_id=second.evidence_id)
    assert note.video == second.path
    audited = [r for r in case.audit_log() if r["event"] == "note added"][-1]
    assert (audited["evidence_id"], audited["video"]) == (second.evidence_id, second.path)
    with (case.folder / NOTES_FILE).open("a", encoding="utf-8") as f:  # as 0.x wrote them
        f.write(json.dumps({"utc": "2026-01-01T00:00:00+00:00", "text": "old, unnamed",
                            "author": None, "frame": 9, "evidence_id": None}) + "\n")
    reopened = Case.open(case.folder)
    assert [n.text for n in reopened.notes(first.evidence_id)] == []
    assert [n.text for n in reopened.notes(second.evidence_id)] == ["chin edge"]
    assert [n.text for n in reopened.unattributed_notes()] == ["old, unnamed"]
