"""Evidence hashing: SHA-256 (the reference) and MD5 (legacy case systems) in one read pass."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from forensics_app.core.errors import CancelledError, EvidenceError
from forensics_app.core.media.evidence import check_evidence_file


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    md5: str
    size_bytes: int


def hash_file(
    path: str | Path,
    chunk_size: int = 1 << 20,
    cancel: threading.Event | None = None,
) -> FileHashes:
    """Hash `path` read-only; EvidenceError if it is missing or unreadable.

    `cancel` is checked between chunks so a GUI can abort hashing a large file
    (raises CancelledError).
    """
    path = Path(path)
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    check_evidence_file(path, allow_empty=True)  # a FIFO or device would block or never end
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(chunk_size):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("hashing cancelled", path)
                sha256.update(chunk)
                md5.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise EvidenceError("evidence file not found", path) from None
    except PermissionError:
        raise EvidenceError("evidence file cannot be read (permission denied)", path) from None
    except OSError as exc:
        raise EvidenceError(f"evidence file cannot be read ({exc.strerror or exc})", path) from exc
    return FileHashes(sha256=sha256.hexdigest(), md5=md5.hexdigest(), size_bytes=size)
