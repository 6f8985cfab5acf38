"""The PDF evidence report (no Qt): `export_report(results_folder, pdf_path, ...)`.

Imported lazily: `forensics_app.core.report.options` (the CLI's flags) must not pull in
ReportLab and matplotlib at every start of the command line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReportOutput", "export_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from forensics_app.core.report import export

        return getattr(export, name)
    raise AttributeError(name)
