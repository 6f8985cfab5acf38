"""File → Save case, the first time: where the case goes (a new folder may be typed), its id
and the examiner, in one form."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)


class NewCaseDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, start: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("newCaseDialog")
        self.setWindowTitle("Save case")
        self.folder = QLineEdit(start or str(Path.home() / "cases" / "new-case"))
        self.folder.setObjectName("caseFolder")
        self.folder.setToolTip("A new or empty folder; a name that does not exist yet is "
                               "created")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.case_id = QLineEdit()
        self.case_id.setObjectName("caseId")
        self.examiner = QLineEdit()
        self.examiner.setObjectName("caseExaminer")
        self.problem = QLabel()
        self.problem.setObjectName("hint")
        form = QFormLayout(self)
        form.addRow("Case folder:", row)
        form.addRow("Case id:", self.case_id)
        form.addRow("Examiner:", self.examiner)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.resize(620, self.sizeHint().height())

    def _browse(self) -> None:
        """Choose the folder the case goes in; the typed name is kept as the new folder."""
        parent = QFileDialog.getExistingDirectory(self, "Folder to create the case in",
                                                  str(Path(self.folder.text()).parent))
        if parent:
            self.folder.setText(str(Path(parent) / Path(self.folder.text()).name))

    def _accept(self) -> None:
        folder = Path(self.folder.text().strip()).expanduser()
        if not self.folder.text().strip():
            self.problem.setText("Name the case folder.")
        elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            self.problem.setText("That folder is not empty: type a new folder name.")
        elif not self.case_id.text().strip():
            self.problem.setText("A case needs a case id.")
        else:
            self.accept()

    def answer(self) -> tuple[str, str, str]:
        return (str(Path(self.folder.text().strip()).expanduser()),
                self.case_id.text().strip(), self.examiner.text().strip())
