"""The window's analysis commands: queue analyses (inside a case, after the evidence is
hashed into it), follow their progress in the status bar, cancel them, show the results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from forensics_app.core.analysis.job import Progress
from forensics_app.core.analysis.results import ResultsBundle
from forensics_app.core.errors import ForensicsError
from forensics_app.core.models.registry import resolve_model_folder
from forensics_app.ui import dialogs
from forensics_app.ui.dialogs import VIDEO_FILTER
from forensics_app.ui.workers import AnalysisJob


class AnalysisCommands:
    """Mixed into `MainWindow` (uses its state, session, pool, status and timeline)."""

    def _connect_pool(self) -> None:
        self.pool.jobQueued.connect(lambda _j: self._refresh_jobs())
        self.pool.jobStarted.connect(lambda _j: self._refresh_jobs())
        self.pool.jobProgress.connect(self._on_progress)
        self.pool.jobFinished.connect(self._on_finished)
        self.pool.jobFailed.connect(self._on_failed)
        self.pool.jobCancelled.connect(self._on_cancelled)

    def model_available(self) -> bool:
        if self.pool.model_factory is not None:
            return True
        try:
            resolve_model_folder(self.pool.model_spec)
        except ForensicsError as err:
            dialogs.show_error(self, f"no detection model installed ({err}); install the default "
                               "model under models/ or set FORENSICS_MODELS_DIR",
                               "Cannot analyse")
            return False
        return True

    def analyse_current(self) -> AnalysisJob | None:
        """Analyse the open video. Returns the job, or None when it could not be queued or
        (inside a case) when it is queued once the evidence has been hashed into the case."""
        if self.state.video_path is None:
            dialogs.show_error(self, "open a video first", "Cannot analyse")
            return None
        jobs = self.queue_videos([self.state.video_path])
        return jobs[0] if jobs else None

    def queue_dialog(self) -> None:
        files = dialogs.ask_open_files(self, "Videos to analyse",
                                       self.settings.value("paths/lastDir", ""), VIDEO_FILTER)
        if files:
            self.queue_videos([Path(f) for f in files])

    def queue_videos(self, videos: list[Path]) -> list[AnalysisJob]:
        """Queue analyses. Outside a case they are queued at once and returned; inside one,
        each video is first hashed into the case off the GUI thread, and the jobs are queued
        (`pool.jobQueued`) when that is done: then this returns []."""
        if not self.model_available():
            return []
        try:
            settings = self.session.job_settings()
        except Exception as err:
            dialogs.report(self, err, "Cannot analyse")
            return []
        videos, case = [Path(v) for v in videos], self.state.case

        def submit(planned) -> list[AnalysisJob]:
            if case is not None:  # the open video may be an exhibit now: title and notes
                self._guarded("Cannot save the notes into the case", self._evidence_added)
            return [self.pool.submit(AnalysisJob(video, out, replace(settings)))
                    for video, out in planned]

        if case is None:
            return submit(self.session.plan_analyses(videos, None))
        names = ", ".join(v.name for v in videos)
        self._start_task(f"hashing {names} into the case…",
                         lambda cancel: self.session.plan_analyses(videos, case, cancel),
                         submit, "Cannot analyse")
        return []

    def _evidence_added(self) -> None:
        evidence_id = self.session.refresh_evidence()
        if evidence_id != self.state.evidence_id:
            self.state.set_case(self.state.case, evidence_id)

    def cancel_current(self) -> None:
        running = self.pool.running_jobs()
        for job in running or self.pool.active_jobs()[:1]:
            self.pool.cancel(job)
        if running:
            self.status.job_label.setText(f"{running[0].name}: cancelling…")
        self.focus_player()

    def _on_progress(self, job: AnalysisJob, p: Progress) -> None:
        self.status.progress(job.name, job.device, p, job.eta_s(), self._queued())
        if p.stage == "spatial" and self._is_current(job):
            scores, frames = p.partial.get("face_p_fake"), p.partial.get("face_frames")
            # face_p_fake is per face, in the order the faces stage found them: without
            # face_frames (the video frame of each) there is no honest place to draw it
            if scores is not None and frames is not None:
                self.timeline.set_partial(list(frames)[:len(scores)], list(scores))

    def _is_current(self, job: AnalysisJob) -> bool:
        current = self.state.video_path
        return current is not None and current.resolve() == job.video.resolve()

    def _queued(self) -> int:
        return sum(1 for j in self.pool.jobs if j.status == "queued")

    def _refresh_jobs(self) -> None:
        running = self.pool.running_jobs()
        self.status.show_job(bool(self.pool.active_jobs()))
        if running:
            self.status.starting(running[0].name, self._queued())
        self._update_actions()

    def _on_finished(self, job: AnalysisJob, bundle: ResultsBundle) -> None:
        self._guarded("Cannot write to the case", self.session.analysis_finished, job.video,
                      job.out_dir, bundle.results)
        if self._is_current(job):
            self.state.set_results(bundle)
        pred = bundle.results.prediction
        self.statusBar().showMessage(f"{job.name}: {pred.label} ({pred.band}) — results in "
                                     f"{job.out_dir}", 10000)
        self._refresh_jobs()

    def _on_failed(self, job: AnalysisJob, message: str) -> None:
        self._guarded("Cannot write to the case", self.session.analysis_failed, job.video,
                      job.out_dir, message)
        if self._is_current(job):
            self.timeline.clear_partial()
        self._refresh_jobs()
        dialogs.show_error(self, message, f"Analysis of {job.name} failed")

    def _on_cancelled(self, job: AnalysisJob) -> None:
        self._guarded("Cannot write to the case", self.session.analysis_cancelled, job.video,
                      job.out_dir, job.message)
        if self._is_current(job):
            self.timeline.clear_partial()
        self.statusBar().showMessage(f"{job.name}: analysis cancelled", 6000)
        self._refresh_jobs()

    def _guarded(self, title: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as err:
            dialogs.report(self, err, title)

