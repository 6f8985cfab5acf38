"""Regenerate docs/sample_report.pdf and its PNG pages: a case over a shared DFDC clip,
100 frames, the default model, notes in three scripts.

    .venv/bin/python docs/make_sample_report.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.analysis.drive import run_to_end  # noqa: E402
from forensics_app.core.analysis.job import AnalysisSettings, run_analysis  # noqa: E402
from forensics_app.core.case import Case  # noqa: E402
from forensics_app.core.models.registry import load_model  # noqa: E402
from forensics_app.core.report import export_report  # noqa: E402

CLIP = ROOT.parent / "shared" / "data" / "videos" / "fake" / "dfdc_abofeumbvv.mp4"
PAGES = (1, 3, 4, 7)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="sample-report-"))
    case = Case.create(work / "case", "DEMO-2026-001", "Zoë Ñúñez")
    record = case.add_evidence(CLIP)
    folder = case.analysis_dir(record.evidence_id)
    bundle = run_to_end(run_analysis(CLIP, folder, AnalysisSettings(frames=100), load_model()))
    case.record_analysis(record.evidence_id, bundle.results)
    case.add_note("Clip received from the newsroom tip line; upload URL in the intake form.")
    case.add_note("ملاحظة: حواف الوجه تبدو غير طبيعية حول الإطار 150", author="R. Ahmed",
                  frame=150)
    case.add_note("王小明复核了第 0–50 帧，未发现明显的拼接痕迹。", author="王小明")
    pdf = work / "sample_report.pdf"
    out = export_report(folder, pdf)
    shutil.copy(pdf, ROOT / "docs" / "sample_report.pdf")
    for page in PAGES:
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", "-f", str(page),
                        "-l", str(page), str(pdf), str(ROOT / "docs" / f"report_page{page}")],
                       check=True)
    print(f"{out.pages} pages in {out.seconds:.1f} s; pages {PAGES} rendered into docs/")


if __name__ == "__main__":
    main()
