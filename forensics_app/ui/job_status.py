"""The status bar's job widgets: the running analysis (stage, frame n/T, ETA, Cancel) and
the running case task (a busy bar with what it does)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from forensics_app.core.analysis.job import STAGES, Progress


class JobStatus:
    def __init__(self, bar: QStatusBar, on_cancel) -> None:
        self.job_label = QLabel()
        self.job_label.setObjectName("jobLabel")
        self.job_progress = QProgressBar()
        self.job_progress.setObjectName("jobProgress")
        self.job_progress.setRange(0, 1000)
        self.job_progress.setMaximumWidth(220)
        self.job_progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelJob")
        # a click must not take the keyboard focus: ←/→ keep stepping frames afterwards
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(on_cancel)
        for w in (self.job_label, self.job_progress, self.cancel_button):
            bar.addPermanentWidget(w)
        self.show_job(False)
        self.task_label = QLabel()
        self.task_label.setObjectName("taskLabel")
        self.task_progress = QProgressBar()
        self.task_progress.setObjectName("taskProgress")
        self.task_progress.setRange(0, 0)  # busy, no known end
        self.task_progress.setMaximumWidth(120)
        self.task_progress.setTextVisible(False)
        for w in (self.task_label, self.task_progress):
            bar.addPermanentWidget(w)
            w.setVisible(False)

    def show_job(self, visible: bool) -> None:
        for w in (self.job_label, self.job_progress, self.cancel_button):
            w.setVisible(visible)

    def progress(self, name: str, device: str | None, p: Progress, eta: float | None,
                 queued: int) -> None:
        eta_text = "" if eta is None else f" · ETA {eta:.0f} s"
        step = f"frame {p.done}/{p.total}" if p.stage == "faces" else \
            f"{p.stage} {p.done}/{p.total}"
        self.job_label.setText(f"{name} [{device}]: {p.stage_index + 1}/{len(STAGES)} {step}"
                               f"{eta_text}{queued_text(queued)}")
        self.job_progress.setValue(round(p.fraction * 1000))
        self.show_job(True)

    def starting(self, name: str, queued: int) -> None:
        self.job_label.setText(f"{name}: starting…{queued_text(queued)}")
        self.job_progress.setValue(0)

    def task(self, label: str) -> None:
        self.task_label.setText(label)
        for w in (self.task_label, self.task_progress):
            w.setVisible(bool(label))


def queued_text(queued: int) -> str:
    return f" (+{queued} queued)" if queued else ""
