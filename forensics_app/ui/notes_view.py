"""Examiner notes with UTC timestamps, kept with the case (through the `Session`).

With a case open, every note is appended to the case's notes file at once (and audited; the
case's lock keeps that safe while a background task writes the case too), about the open
evidence when it names a frame. Without a case, notes are held by the session and written
into the case when it is saved, each with the time it was written.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from forensics_app.core.case import Note
from forensics_app.core.session import Session
from forensics_app.ui import dialogs
from forensics_app.ui.state import AppState


class _NotesList(QListWidget):
    """The list asks for little height and takes what the dock has (it stretches): its
    default preference (192 px) pushed the editor below a laptop-sized dock's edge."""

    def sizeHint(self) -> QSize:
        return QSize(180, 60)


class NotesView(QWidget):
    done = Signal()  # a note was added or the editor left with Esc: the keyboard goes back

    def __init__(self, state: AppState, session: Session, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.state = state
        self.session = session
        self.list = _NotesList()
        self.list.setObjectName("notesList")
        self.list.setWordWrap(True)
        self.list.itemActivated.connect(self._on_activated)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("noteEditor")
        self.editor.setPlaceholderText("Write a note… (Ctrl+Enter to add)")
        self.editor.setMaximumHeight(70)
        self.attach = QCheckBox("at this frame")  # short: the dock is narrow on a laptop
        self.attach.setToolTip("Attach the note to the current frame (the note list shows it, "
                               "and activating the note seeks there)")
        self.attach.setChecked(True)
        self.add_button = QPushButton("Add note")
        self.add_button.setObjectName("addNote")
        self.add_button.clicked.connect(self.add_current)
        self.where = QLabel()
        self.where.setObjectName("hint")
        self.where.setWordWrap(True)  # a long line would widen the dock into a scroll
        row = QHBoxLayout()
        row.addWidget(self.attach)
        row.addStretch(1)
        row.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.editor)
        layout.addLayout(row)
        layout.addWidget(self.where)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self.editor)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self.add_current)
        leave = QShortcut(QKeySequence("Escape"), self.editor)
        leave.setContext(Qt.ShortcutContext.WidgetShortcut)
        leave.activated.connect(self.done)
        self.add_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        state.caseChanged.connect(lambda _c: self.reload())
        state.videoChanged.connect(lambda _i: self.reload())  # another evidence's notes
        self.reload()

    @property
    def pending(self) -> list[Note]:
        """Notes not in a case yet (the session holds them)."""
        return self.session.pending_notes

    def add_current(self) -> Note | None:
        text = self.editor.toPlainText().strip()
        if not text:
            return None
        frame = self.state.frame if self.attach.isChecked() and self.state.frame_count else None
        note = self.add(text, frame)
        if note is not None:
            self.editor.clear()
            self.done.emit()
        return note

    def add(self, text: str, frame: int | None = None) -> Note | None:
        try:
            note = self.session.add_note(text, frame)
        except Exception as err:
            dialogs.report(self, err, "Cannot save the note")
            return None
        self._append(note)
        return note

    def reload(self) -> None:
        self.list.clear()
        case = self.state.case
        try:
            notes = self.session.notes()
        except Exception as err:
            dialogs.report(self, err, "Cannot read the case's notes")
            notes = list(self.pending)
        for note in notes:
            self._append(note)
        self.where.setText(f"kept in case {case.case_id} ({case.folder})" if case is not None
                           else "no case open: notes are kept when you save a case")

    def _append(self, note: Note) -> None:
        frame = "" if note.frame is None else f" · frame {note.frame}"
        if note.evidence_id:
            frame = f" · {note.evidence_id}{frame}"
        elif note in self.pending and note.frame is not None:
            frame = f" · {Path(note.video).name if note.video else 'this video'}{frame} (held: " \
                "goes into the case with its video)"
        elif note.unattributed:
            frame = f" · not attributed to an exhibit{frame}"
        author = f" · {note.author}" if note.author else ""
        item = QListWidgetItem(f"{note.utc}{frame}{author}\n{note.text}")
        item.setData(Qt.ItemDataRole.UserRole, note.frame)
        self.list.addItem(item)
        self.list.scrollToBottom()

    def _on_activated(self, item: QListWidgetItem) -> None:
        frame = item.data(Qt.ItemDataRole.UserRole)
        if frame is not None:
            self.state.set_frame(int(frame))
