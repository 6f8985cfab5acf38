"""Checks on the evidence path itself, before anything opens it.

Only a regular file is evidence: opening a FIFO blocks until someone writes to it, a device
never ends, a directory is no video. Every check follows symlinks to the file they name, and
"beside the evidence" means beside the link or beside the real file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from forensics_app.core.errors import EvidenceError

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_evidence_file(path: str | Path, allow_empty: bool = False) -> os.stat_result:
    """The evidence's stat (symlinks followed); EvidenceError unless it is a readable,
    non-empty (unless `allow_empty`) regular file. Never opens it, so it cannot hang."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise EvidenceError("evidence file not found", path) from None
    except OSError as exc:
        raise EvidenceError(f"cannot access evidence file ({exc.strerror or exc})", path) from exc
    if stat.S_ISDIR(st.st_mode):
        raise EvidenceError("evidence path is a directory, not a file", path)
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise EvidenceError(f"evidence is {kind}, not a regular file", path)
    if st.st_size == 0 and not allow_empty:
        raise EvidenceError("evidence file is empty (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise EvidenceError("evidence file cannot be read (permission denied)", path)
    return st


def evidence_folders(evidence: str | Path) -> set[Path]:
    """The folders the evidence lies in: the link's and, symlinks resolved, the file's."""
    evidence = Path(evidence)
    return {Path(os.path.abspath(evidence)).parent.resolve(), evidence.resolve().parent}


def beside_evidence(target: str | Path, evidence: str | Path) -> bool:
    """True when `target` (a folder to write into, symlinks resolved) is an evidence folder
    or lies anywhere inside one."""
    where = Path(target).resolve()
    return any(where == home or home in where.parents for home in evidence_folders(evidence))


def evidence_paths(evidence: str | Path) -> tuple[str, str]:
    """(the file, symlinks resolved; the path as opened, made absolute but not resolved):
    every record of the evidence keeps both, each in its own field (`path`, `opened_as`),
    so one log never names the same file two ways in one field."""
    return str(Path(evidence).resolve()), os.path.abspath(evidence)
