"""The PDF evidence report (no Qt): `export_report(results_folder, pdf_path, ...)`."""

from forensics_app.core.report.export import ReportOutput, export_report

__all__ = ["ReportOutput", "export_report"]
