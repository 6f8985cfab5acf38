"""The report options: one definition for `analyze --report`, `report` and the GUI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forensics_app.core.options import option

PAPER_NAMES = ("a4", "letter")  # document.PAPERS maps each to its size (a test checks both)


@dataclass
class ReportOptions:
    case_id: str | None = option(None, "case id printed in the report (no case folder is "
                                 "created; an --out of CASE/analyses/ID uses that case)")
    examiner: str | None = option(None, "examiner printed in the report")
    notes: Path | None = option(None, "UTF-8 text file of examiner notes; blank lines "
                                "separate notes", parse=Path, metavar="FILE")
    paper: str = option("a4", "paper size", choices=PAPER_NAMES)
