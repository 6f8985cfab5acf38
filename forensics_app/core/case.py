"""The case folder: what the GUI and the command line both read and write.

```
CASE/
  case.json        metadata (id, examiner, created); rewritten atomically
  evidence.json    evidence files with their intake hashes; rewritten atomically
  notes.jsonl      examiner notes, one JSON object per line, append-only
  audit.log        what was done, one JSON object per line, append-only, hash-chained
  analyses/<evidence_id>/         the first analysis of each evidence (results.json, ...)
  analyses/<evidence_id>-A002/    its second analysis, and so on: none is ever replaced
```
Evidence is only ever read (hashed); nothing is written beside it. Every audit line carries
the SHA-256 of the line before it, so an edited or deleted line is detectable
(`Case.audit_chain_ok`); the file is only ever opened for appending.

The case enforces its own write rule: reading the last audit line and appending the next one
(and each read-modify-write of the evidence list) happen under one lock, a thread lock per
folder plus an advisory file lock on audit.log (`fcntl.flock`, POSIX), so two writers (two
threads of the GUI, the GUI and a CLI, two windows) can never break the chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.analysis.results import RESULTS_FILE, OutputLock, Results, atomic_write
from forensics_app.core.errors import EvidenceError, ForensicsError
from forensics_app.core.media import hash_file
from forensics_app.core.media.evidence import evidence_paths

CASE_SCHEMA = "forensics-app/case/v1"
CASE_FILE = "case.json"
EVIDENCE_FILE = "evidence.json"
NOTES_FILE = "notes.jsonl"
AUDIT_FILE = "audit.log"
ANALYSES_DIR = "analyses"
_GENESIS = "0" * 64  # the "previous line" hash of the first audit line

try:  # POSIX: an advisory lock between processes; elsewhere only threads are serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_folder_locks: dict[str, threading.RLock] = {}
_folder_locks_guard = threading.Lock()
_held = threading.local()  # folders whose file lock this thread holds (re-entrant use)


def _analysis_number(name: str, evidence_id: str) -> int | None:
    """Which analysis of `evidence_id` a folder name is (<id> the first, <id>-A<n> the
    n-th), else None."""
    if name == evidence_id:
        return 1
    prefix = f"{evidence_id}-A"
    digits = name[len(prefix):]
    if name.startswith(prefix) and digits.isdigit() and int(digits) > 1:
        return int(digits)
    return None


def utc_now() -> str:
    """The one timestamp format of case files (same as results.json's created_utc)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Note:
    utc: str
    text: str
    author: str | None = None
    frame: int | None = None  # video frame index the note is about, if any
    evidence_id: str | None = None  # the evidence file the frame belongs to (None: the case)
    video: str | None = None  # that file's path as opened (kept: a note can wait for its id)

    @property
    def unattributed(self) -> bool:
        """About a frame of no named exhibit (an older case wrote such notes): never shown
        or printed as if about whichever exhibit is open."""
        return self.frame is not None and self.evidence_id is None


@dataclass
class EvidenceRecord:
    evidence_id: str
    path: str  # absolute path at intake
    sha256: str
    md5: str
    size_bytes: int
    added_utc: str
    opened_as: str = ""  # the path it was added by, symlinks kept (`path`: the file itself)


@dataclass
class EvidenceCheck:
    record: EvidenceRecord
    status: str  # "ok" | "changed" | "missing"
    current_sha256: str | None  # None when the file could not be read

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Case:
    """An open case folder. Create with `Case.create`, reopen with `Case.open`."""

    def __init__(self, folder: Path, case_id: str, examiner: str, created_utc: str) -> None:
        self.folder = folder
        self.case_id = case_id
        self.examiner = examiner
        self.created_utc = created_utc

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | Path, case_id: str, examiner: str) -> Case:
        """A new case in `folder` (created if needed); refuses a folder already in use."""
        folder = Path(folder)
        if is_case_folder(folder):
            raise ForensicsError("a case already exists here; open it instead", folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ForensicsError("refusing to create a case in a non-empty folder", folder)
        if not case_id.strip():
            raise ForensicsError("a case needs a case id")
        case = cls(folder, case_id.strip(), examiner.strip(), utc_now())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            case._write_json(EVIDENCE_FILE, {"schema": CASE_SCHEMA, "evidence": []})
            case._write_json(CASE_FILE, case._metadata())  # last: its presence marks a case
        except OSError as err:
            raise ForensicsError(f"cannot create the case ({err.strerror or err})",
                                 folder) from err
        case.audit("case created", case_id=case.case_id, examiner=case.examiner,
                   tool=f"{TOOL_NAME} {__version__}")
        return case

    @classmethod
    def open(cls, folder: str | Path) -> Case:
        """Reopen a case; ForensicsError if `folder` is not one. Call `verify_evidence` next."""
        folder = Path(folder)
        data = _read_json(folder / CASE_FILE, "not a case folder")
        try:
            case = cls(folder, data["case_id"], data["examiner"], data["created_utc"])
        except KeyError as err:
            raise ForensicsError(f"corrupt case file (no {err})", folder / CASE_FILE) from err
        case.audit("case opened", tool=f"{TOOL_NAME} {__version__}")
        return case

    @classmethod
    def containing(cls, results_folder: str | Path) -> tuple[Case, str] | None:
        """The case and evidence id a results folder belongs to (one of its evidence's
        analysis folders, CASE/analyses/<id>[-A<n>]/), if any."""
        case = cls.of_analysis_folder(results_folder)
        if case is None:
            return None
        evidence_id = case.evidence_of_analysis(results_folder)
        return (case, evidence_id) if evidence_id is not None else None

    @classmethod
    def of_analysis_folder(cls, folder: str | Path) -> Case | None:
        """The case whose analyses/ folder holds `folder` (whatever its name), else None."""
        folder = Path(folder).resolve()
        if folder.parent.name != ANALYSES_DIR or not is_case_folder(folder.parent.parent):
            return None
        return cls.open(folder.parent.parent)

    def _metadata(self) -> dict[str, Any]:
        return {"schema": CASE_SCHEMA, "case_id": self.case_id, "examiner": self.examiner,
                "created_utc": self.created_utc, "tool": {"name": TOOL_NAME,
                                                          "version": __version__}}

    # -- evidence --------------------------------------------------------------------------
    def add_evidence(self, path: str | Path, cancel: threading.Event | None = None
                     ) -> EvidenceRecord:
        """Hash `path` (read-only) and record it; the same file added again keeps its record."""
        resolved, opened_as = evidence_paths(path)
        path = Path(resolved)
        for record in self.evidence():
            if record.path == str(path):
                self.audit("evidence already in case", evidence_id=record.evidence_id,
                           path=str(path), opened_as=opened_as)
                return record
        hashes = hash_file(path, cancel=cancel)  # slow: outside the lock
        with self.locked():  # the id is the list's length: read, extend, write as one step
            records = self.evidence()
            for record in records:  # added by another writer while this one hashed
                if record.path == str(path):
                    return record
            record = EvidenceRecord(
                evidence_id=f"E{len(records) + 1:03d}", path=str(path), sha256=hashes.sha256,
                md5=hashes.md5, size_bytes=hashes.size_bytes, added_utc=utc_now(),
                opened_as=opened_as)
            self._write_json(EVIDENCE_FILE, {"schema": CASE_SCHEMA, "evidence":
                                             [asdict(r) for r in [*records, record]]})
            self.audit("evidence added and hashed", **asdict(record))
        return record

    def evidence(self) -> list[EvidenceRecord]:
        data = _read_json(self.folder / EVIDENCE_FILE, "evidence list missing")
        try:
            return [EvidenceRecord(**r) for r in data["evidence"]]
        except (KeyError, TypeError) as err:
            raise ForensicsError(f"corrupt evidence list ({err})",
                                 self.folder / EVIDENCE_FILE) from err

    def record(self, evidence_id: str) -> EvidenceRecord:
        for record in self.evidence():
            if record.evidence_id == evidence_id:
                return record
        raise ForensicsError(f"no evidence {evidence_id!r} in case {self.case_id}", self.folder)

    def analysis_dir(self, evidence_id: str, number: int = 1) -> Path:
        """Where analysis `number` of one evidence file is written (not created here): the
        first in analyses/<id>, later ones in analyses/<id>-A002, -A003, …"""
        name = self.record(evidence_id).evidence_id
        return self.folder / ANALYSES_DIR / (name if number == 1 else f"{name}-A{number:03d}")

    def analysis_dirs(self, evidence_id: str) -> list[Path]:
        """The finished analyses of one evidence file (results.json written), oldest first."""
        root = self.folder / ANALYSES_DIR
        found = [(number, path) for path in (root.iterdir() if root.is_dir() else [])
                 if (number := _analysis_number(path.name, evidence_id)) is not None
                 and (path / RESULTS_FILE).is_file()]
        return [path for _, path in sorted(found)]

    def latest_analysis(self, evidence_id: str) -> Path | None:
        dirs = self.analysis_dirs(evidence_id)
        return dirs[-1] if dirs else None

    def analysis_labels(self, evidence_id: str) -> list[tuple[Path, str]]:
        """Each finished analysis of the evidence with a line that tells it from the others
        (from its audit line: when, model, frames, verdict), oldest first."""
        audited = {row.get("analysis", evidence_id): row for row in self.audit_log()
                   if row.get("event") == "analysed" and row.get("evidence_id") == evidence_id}
        labels = []
        for folder in self.analysis_dirs(evidence_id):
            row = audited.get(folder.name)
            what = (f"{row.get('analysed_utc', '?')} · {row.get('model', '?')} · "
                    f"{row.get('frames', '?')} frames · {row.get('verdict', '?')}"
                    if row else "not in the audit log")
            labels.append((folder, f"{folder.name}: {what}"))
        return labels

    def next_analysis_dir(self, evidence_id: str) -> Path:
        """A folder for one more analysis of the evidence: the first number whose folder
        does not exist and that no running analysis is writing to. A lock file left by a
        killed analysis is removed on the way (see `OutputLock.clear_if_stale`)."""
        number = 1
        while True:
            folder = self.analysis_dir(evidence_id, number)
            state = OutputLock(folder).clear_if_stale()
            if state == "cleared":
                self.audit("unfinished analysis cleared", evidence_id=evidence_id,
                           analysis=folder.name, why="its lock file was left by a process "
                           "that is gone (killed during the analysis); nothing of it was kept")
            if not folder.exists() and state != "held":
                return folder
            number += 1

    def evidence_of_analysis(self, folder: str | Path) -> str | None:
        """The evidence id whose analysis folder `folder` is (any of its numbers), else None."""
        folder = Path(folder).resolve()
        if folder.parent != (self.folder / ANALYSES_DIR).resolve():
            return None
        return next((r.evidence_id for r in self.evidence()
                     if _analysis_number(folder.name, r.evidence_id) is not None), None)

    def verify_evidence(self, cancel: threading.Event | None = None) -> list[EvidenceCheck]:
        """Re-hash every evidence file against its intake hash; the outcome is audited."""
        checks = [check_record(record, cancel) for record in self.evidence()]
        for check in checks:
            self.audit("evidence verified", evidence_id=check.record.evidence_id,
                       status=check.status, intake_sha256=check.record.sha256,
                       current_sha256=check.current_sha256)
        return checks

    def record_analysis(self, evidence_id: str, results: Results,
                        folder: str | Path | None = None) -> None:
        """Audit an analysis of the evidence written to `folder` (default: its first analysis
        folder): which folder, settings, model, verdict."""
        folder = Path(folder) if folder is not None else self.analysis_dir(evidence_id)
        self.audit("analysed", evidence_id=self.record(evidence_id).evidence_id,
                   analysis=folder.name, **analysis_summary(results))

    def analysis_recorded(self, evidence_id: str, folder: str | Path | None = None) -> bool:
        """Whether the analysis in `folder` (default: the first) has its audit line. Lines
        written before analyses were numbered name no folder: they are about the first."""
        name = Path(folder).name if folder is not None else self.analysis_dir(evidence_id).name
        first = self.analysis_dir(evidence_id).name
        return any(row.get("event") == "analysed" and row.get("evidence_id") == evidence_id
                   and row.get("analysis", first) == name
                   for row in self.audit_log())

    # -- notes -----------------------------------------------------------------------------
    def add_note(self, text: str, author: str | None = None, frame: int | None = None,
                 evidence_id: str | None = None, utc: str | None = None,
                 video: str | None = None) -> Note:
        """Append a note. `utc`: when it was written, for a note taken before the case
        existed (kept as written: the time is evidence, not the time of saving). A note about
        a frame names the exhibit it is about: ValueError without one."""
        if frame is not None and evidence_id is None:
            raise ValueError("a note about a frame must name the evidence it is about")
        if evidence_id is not None:
            video = video or self.record(evidence_id).path
        note = Note(utc or utc_now(), text, author if author is not None else self.examiner,
                    frame, evidence_id, video)
        with self.locked():
            self._append_line(NOTES_FILE, asdict(note))
            self.audit("note added", author=note.author, frame=frame, evidence_id=evidence_id,
                       video=video, written_utc=note.utc, chars=len(text))
        return note

    def notes(self, evidence_id: str | None = None) -> list[Note]:
        """All notes; with `evidence_id`, those about that evidence and about the whole case
        (not those about a frame of no named exhibit: see `Note.unattributed`)."""
        notes = [Note(**row) for row in self._read_lines(NOTES_FILE)]
        if evidence_id is None:
            return notes
        return [n for n in notes if n.evidence_id == evidence_id
                or (n.evidence_id is None and not n.unattributed)]

    def unattributed_notes(self) -> list[Note]:
        """Notes about a frame that name no exhibit (written by an older version)."""
        return [n for n in self.notes() if n.unattributed]

    # -- audit -----------------------------------------------------------------------------
    def audit(self, event: str, **details: Any) -> None:
        """Append one timestamped line, chained to the previous line's SHA-256."""
        with self.locked():
            lines = self._raw_lines(AUDIT_FILE)
            prev = _line_hash(lines[-1]) if lines else _GENESIS
            self._append_line(AUDIT_FILE, {"utc": utc_now(), "event": event, **details,
                                           "prev_sha256": prev})

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the case's write lock (re-entrant within a thread): across threads of this
        process by a lock per folder, across processes by flock on audit.log."""
        key = str(self.folder.resolve())
        with _folder_locks_guard:
            lock = _folder_locks.setdefault(key, threading.RLock())
        held: set[str] = _held.__dict__.setdefault("folders", set())
        with lock:
            if key in held or fcntl is None:
                yield
                return
            try:
                handle = open(self.folder / AUDIT_FILE, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as err:
                raise ForensicsError(f"cannot lock the case ({err.strerror or err})",
                                     self.folder / AUDIT_FILE) from err
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                held.add(key)
                yield
            finally:
                held.discard(key)
                handle.close()  # closing releases the flock

    def audit_log(self) -> list[dict[str, Any]]:
        return self._read_lines(AUDIT_FILE)

    def audit_chain_ok(self) -> bool:
        """False when any audit line was edited, removed or reordered after it was written."""
        prev = _GENESIS
        for line in self._raw_lines(AUDIT_FILE):
            if json.loads(line).get("prev_sha256") != prev:
                return False
            prev = _line_hash(line)
        return True

    # -- files -----------------------------------------------------------------------------
    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self.folder / name, lambda p: p.write_text(text, encoding="utf-8"))

    def _append_line(self, name: str, row: dict[str, Any]) -> None:
        # One write() of one line on an O_APPEND descriptor: concurrent writers (GUI and CLI)
        # cannot interleave inside a line, and existing bytes are never touched.
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        try:
            with open(self.folder / name, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            raise ForensicsError(f"cannot append to the case ({err.strerror or err})",
                                 self.folder / name) from err

    def _raw_lines(self, name: str) -> list[str]:
        try:
            text = (self.folder / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def _read_lines(self, name: str) -> list[dict[str, Any]]:
        try:
            return [json.loads(line) for line in self._raw_lines(name)]
        except json.JSONDecodeError as err:
            raise ForensicsError(f"corrupt line {err.lineno} ({err.msg})",
                                 self.folder / name) from err


def analysis_summary(results: Results) -> dict[str, Any]:
    """What the audit trail keeps of one analysis: enough to tell how it was run."""
    settings = {k: getattr(results.settings, k)
                for k in ("frames", "segment", "explain", "detector", "device", "seed")}
    model = results.model
    return {"analysed_utc": results.created_utc, "sha256": results.evidence.sha256,
            "model": f"{model.name} {model.version}",
            "model_sha256": model.sha256, **settings,
            "verdict": results.prediction.label, "p_fake": results.prediction.p_fake}


def is_case_folder(folder: str | Path) -> bool:
    return (Path(folder) / CASE_FILE).is_file()


def check_record(record: EvidenceRecord, cancel: threading.Event | None = None
                 ) -> EvidenceCheck:
    """Re-hash one evidence file against its intake hash."""
    path = Path(record.path)
    if not path.is_file():
        return EvidenceCheck(record, "missing", None)
    try:
        current = hash_file(path, cancel=cancel).sha256
    except EvidenceError:  # unreadable now: it cannot be shown to be the intake file
        return EvidenceCheck(record, "missing", None)
    return EvidenceCheck(record, "ok" if current == record.sha256 else "changed", current)


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _read_json(path: Path, missing: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ForensicsError(missing, path.parent) from err
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ForensicsError(f"unreadable case file ({err})", path) from err
    if not isinstance(data, dict) or data.get("schema") != CASE_SCHEMA:
        raise ForensicsError(f"not a {CASE_SCHEMA} file", path)
    return data
