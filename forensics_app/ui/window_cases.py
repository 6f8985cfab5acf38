"""The window's case commands: open a case (its evidence re-hashed off the GUI thread), save
one, export the report. The rules are the `Session`'s; this is the Qt side of them."""

from __future__ import annotations

from pathlib import Path

from forensics_app.core.session import CaseOpening, SavedCase, Session
from forensics_app.ui import dialogs
from forensics_app.ui.workers import BackgroundTask


class CaseCommands:
    """Mixed into `MainWindow` (uses its state, session, tasks, banner and dialogs)."""

    def open_case_dialog(self) -> None:
        folder = dialogs.ask_folder(self, "Open a case folder (or results folder)",
                                    self.settings.value("paths/lastCase", ""))
        if folder:
            self.open_path(folder)

    def open_case(self, folder: str | Path) -> bool:
        """Open a case folder. Its evidence is re-hashed against the intake hashes off the
        GUI thread; the case is shown (and `caseOpened(case)` emitted) when that is done.
        False when it cannot start (another case operation is running)."""
        if self.tasks.busy:
            dialogs.show_error(self, "another case operation is still running (see the status "
                               "bar); try again when it is done", "Cannot open the case")
            return False
        folder = Path(folder)
        self._start_task(f"verifying the evidence of {folder.name}…",
                         lambda cancel: Session.open_case(folder, cancel),
                         lambda opening: self._show_case(folder, opening),
                         "Cannot open the case")
        return True

    def _show_case(self, folder: Path, opening: CaseOpening) -> None:
        self.settings.setValue("paths/lastCase", str(folder))
        self.recent.add(folder)
        case = opening.case
        usable = [r for r in opening.records if Path(r.path).exists()]
        record = usable[0] if usable else None
        if len(usable) > 1:
            names = [f"{r.evidence_id}: {Path(r.path).name}" for r in usable]
            choice = dialogs.ask_item(self, "Open evidence", "Evidence:", names)
            if choice is not None:
                record = usable[names.index(choice)]
        self.session.use_case(opening, record.evidence_id if record else None)
        self.state.set_case(case, self.session.evidence_id)
        self._show_mismatches()
        if record is None:
            self.statusBar().showMessage(f"case {case.case_id}: no evidence to show", 8000)
        else:
            results = self._choose_analysis(case, record.evidence_id)
            if results is not None:  # opening the video shows these results
                self.session.results_by_video[str(Path(record.path).resolve())] = results
            self.open_video(record.path)
        if opening.mismatches:  # after the evidence choice: never one dialog under another
            dialogs.show_error(self, self.banner.text(), "Evidence does not match its intake "
                               "hash")
        self.caseOpened.emit(case)

    def _choose_analysis(self, case, evidence_id: str) -> Path | None:
        """The exhibit's analysis to show: the only one, else the examiner's pick (the list
        offers the latest first; cancelling shows the latest)."""
        labels = case.analysis_labels(evidence_id)[::-1]
        if len(labels) < 2:
            return labels[0][0] if labels else None
        names = [label for _, label in labels]
        choice = dialogs.ask_item(self, "Open analysis", f"{evidence_id} has {len(labels)} "
                                  "analyses (newest first):", names)
        return labels[names.index(choice)][0] if choice is not None else labels[0][0]

    def _show_mismatches(self) -> None:
        self._update_banner()

    def _update_banner(self) -> None:
        """A lasting banner while the open case holds evidence that fails its intake hash,
        and while the results asked for were refused (tampered, unsealed)."""
        bad = self.session.mismatches
        parts = []
        if bad:
            parts.append("EVIDENCE MISMATCH: " + "; ".join(
                f"{c.record.evidence_id} {Path(c.record.path).name} is {c.status} since intake"
                for c in bad) + ". Results shown for it are not of the intake file.")
        if self.state.refused:
            parts.append(f"RESULTS REFUSED: {self.state.refused}. Nothing of them is shown.")
        self.banner.setText("\n".join(parts))
        self.banner.setVisible(bool(parts))

    def save_case_dialog(self) -> None:
        case, video = self.state.case, self.state.video_path
        if case is not None:
            # never add an exhibit silently: the clip on screen may be from outside the case
            if video is not None and self.session.evidence_id_of(video) is None and \
                    not dialogs.ask_yes_no(
                        self, "Add to the case?", f"{video.name} is not in case {case.case_id}. "
                        "Add it as a new exhibit (it is hashed, its results and notes go into "
                        "the case)?"):
                self.statusBar().showMessage(f"nothing saved: {video.name} stays outside case "
                                             f"{case.case_id}", 8000)
                return
            self.save_case_to(None)
            return
        answer = dialogs.ask_new_case(self)
        if answer is not None:
            self.save_case_to(*answer)

    def new_case_dialog(self) -> None:
        """File → New case: an empty case (the open one is closed first); the clip on screen
        joins it only when saved or analysed into it."""
        if self.tasks.busy:
            dialogs.show_error(self, "another case operation is still running (see the status "
                               "bar); try again when it is done", "Cannot create the case")
            return
        answer = dialogs.ask_new_case(self)
        if answer is None:
            return
        folder, case_id, examiner = answer
        try:
            case = self.session.new_case(Path(folder), case_id, examiner)
        except Exception as err:
            dialogs.report(self, err, "Cannot create the case")
            return
        self._show_mismatches()
        self.state.set_case(case, self.session.evidence_id)
        self.statusBar().showMessage(f"case {case.case_id} created in {case.folder}", 6000)
        self.caseSaved.emit(case)

    def close_case(self) -> None:
        """File → Close case: the window goes on without a case (the clip stays open)."""
        if self.state.case is None:
            return
        if self.tasks.busy:
            dialogs.show_error(self, "a case operation is still running (see the status bar); "
                               "try again when it is done", "Cannot close the case")
            return
        name = self.state.case.case_id
        self._guarded("Cannot write to the case", self.session.close_case)
        self._show_mismatches()
        self.state.set_case(None, None)
        self.statusBar().showMessage(f"case {name} closed", 6000)

    def save_case_to(self, folder: str | Path | None, case_id: str = "", examiner: str = ""
                     ) -> BackgroundTask | None:
        """Create the case (unless one is open), add the open video as evidence, move its
        results into the case and write the notes taken so far.

        The evidence is hashed off the GUI thread: this returns the running task at once;
        `caseSaved(case)` follows when it is done (a dialog when it fails)."""
        video, bundle = self.state.video_path, self.state.bundle
        folder = Path(folder) if folder is not None else None

        def work(cancel) -> SavedCase:
            return self.session.save_case(folder, case_id, examiner, video, bundle, cancel)

        def done(saved: SavedCase) -> None:
            evidence_id = saved.record.evidence_id if saved.record else self.state.evidence_id
            # the held notes keep their own time; those about a frame are about this video
            self._guarded("Cannot save the notes into the case", self.session.flush_notes,
                          saved.case, evidence_id)
            self.session.use_case(saved.case, evidence_id)
            self._show_mismatches()
            self.state.set_case(saved.case, evidence_id)
            if saved.copied is not None:
                self.load_results(saved.copied, quiet=True)
            self.statusBar().showMessage(f"case {saved.case.case_id} saved in "
                                         f"{saved.case.folder}", 6000)
            self.caseSaved.emit(saved.case)

        what = f"hashing {video.name} into the case…" if video is not None else "saving case…"
        return self._start_task(what, work, done, "Cannot save the case")

    def default_report_path(self) -> Path:
        return self.session.default_report_path(self.state.bundle)

    def export_report_dialog(self) -> BackgroundTask | None:
        if self.state.bundle is None:
            dialogs.show_error(self, "analyse the video (or open its results) first",
                               "Cannot export a report")
            return None
        start = self.default_report_path()
        if self.state.case is not None:  # the case's reports/ folder, made if new: a file
            # dialog asked to start in a folder that does not exist opens the last one used
            self._guarded("Cannot create the case's reports folder", start.parent.mkdir,
                          0o777, False, True)
        path = dialogs.ask_save_file(self, "Export evidence report", str(start), "PDF (*.pdf)")
        if not path:
            return None
        if Path(path).suffix.lower() != ".pdf":
            path = f"{path}.pdf"
        return self.export_report(path)

    def export_report(self, pdf_path: str | Path) -> BackgroundTask | None:
        """Write the PDF evidence report (+ its .sha256 and results sidecar) off the GUI
        thread (the exporter re-hashes the evidence); `reportExported(ReportOutput)` follows.
        The case's saved notes are printed by the exporter; the held ones are passed along."""
        if self.state.bundle is None:
            return None
        folder, pdf_path = Path(self.state.bundle.folder), Path(pdf_path)
        notes = self.session.held_notes()

        def done(output) -> None:
            self.statusBar().showMessage(
                f"report written: {output.pdf} ({output.pages} pages; SHA-256 in "
                f"{output.sha256_file.name})", 10000)
            if output.evidence_status != "ok":
                dialogs.show_error(self, f"the evidence is {output.evidence_status} since its "
                                   "analysis; the report says so", "Report written")
            self.reportExported.emit(output)

        return self._start_task(f"writing report {pdf_path.name}…",
                                lambda _cancel: self.session.export_report(folder, pdf_path,
                                                                           notes),
                                done, "Cannot export a report")

