"""File → Analyse folder…: the core batch (forensics_app.core.batch) run off the GUI thread.

The same code as `forensics-app batch FOLDER --out DIR`: resumable, one progress line for the
whole folder in the status bar, summary.csv and index.html at the end (opened in the
browser). One analysis at a time, in this process, beside the player.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from forensics_app.core.batch import (
    BatchSummary,
    collect_inputs,
    plan_batch,
    run_batch,
    settings_dict,
)
from forensics_app.ui import dialogs


class _Relay(QObject):
    """Carries progress text from the batch thread to the GUI thread (queued signal)."""

    text = Signal(str)


def analyse_folder_dialog(window) -> None:
    start = str(window.settings.value("paths/lastDir", ""))
    folder = dialogs.ask_folder(window, "Folder of videos to analyse", start)
    if not folder:
        return
    out = dialogs.ask_folder(window, "Batch output folder (results, summary)",
                             str(window.session.output_root))
    if out:
        analyse_folder(window, Path(folder), Path(out))


def analyse_folder(window, folder: Path, out: Path):
    """Queue every video under `folder` as one batch into `out`; returns the task."""
    spec = window.pool.model_spec
    try:
        settings = window.session.job_settings()
        items = plan_batch(collect_inputs([folder]), out.absolute(), settings_dict(settings),
                           None if spec is None else str(spec))
    except Exception as err:  # no videos, --out under the evidence: one line in a dialog
        dialogs.report(window, err, "Cannot analyse folder")
        return None
    relay = _Relay(window)
    relay.text.connect(window.status.task)

    def work(cancel) -> BatchSummary:
        job = run_batch(items, out.absolute(), workers=1, cancel=cancel)
        try:
            while True:
                p = next(job)
                relay.text.emit(f"folder {folder.name}: {p.finished}/{p.total} files, "
                                f"{p.fraction:.0%} ({p.failed} failed)")
        except StopIteration as stop:
            return stop.value

    def done(summary: BatchSummary) -> None:
        relay.deleteLater()
        window.statusBar().showMessage(
            f"folder {folder.name}: {summary.count('done')} analysed, "
            f"{summary.count('skipped')} finished before, {summary.count('failed')} failed; "
            f"summary in {summary.html_path}", 15000)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(summary.html_path)))

    return window._start_task(f"analysing folder {folder.name} ({len(items)} files)…",
                              work, done, "Cannot analyse folder")
