"""The PDF evidence report (no Qt): `export_report(results_folder, pdf_path, ...)`.

The exporter (reportlab, pypdf, matplotlib, PyAV) is imported on first use, so that importing
a light submodule (options) for the command line's --help costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forensics_app.core.report.export import ReportOutput, export_report

__all__ = ["ReportOutput", "export_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from forensics_app.core.report import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
