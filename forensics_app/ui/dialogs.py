"""Every message box goes through here, so tests can catch them and nothing blocks.

`show_error` is the one helper for user-facing failures: the one-line reason of a
`ForensicsError` (the same text the command line prints), in a non-blocking dialog.
Tests replace `show_error` (or read `shown`) instead of clicking modal boxes.
"""

from __future__ import annotations

import contextlib
import sys
import traceback

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from forensics_app import TOOL_NAME
from forensics_app.core.errors import ForensicsError

VIDEO_FILTER = ("Videos (*.mp4 *.mov *.m4v *.mkv *.avi *.webm *.mts *.m2ts *.ts *.wmv "
                "*.flv *.3gp *.mpg *.mpeg);;Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff);;"
                "All files (*)")

# (title, message) of every dialog shown, newest last: what tests and logs can inspect.
shown: list[tuple[str, str]] = []


def show_error(parent: QWidget | None, message: str, title: str = "Cannot do that"
               ) -> QMessageBox:
    """A non-blocking warning with the one-line reason."""
    return _show(parent, QMessageBox.Icon.Warning, title, message)


def report(parent: QWidget | None, err: BaseException, title: str = "Cannot do that"
           ) -> QMessageBox:
    """A ForensicsError shows its one line; anything else is a bug, said as such."""
    if isinstance(err, ForensicsError):
        return show_error(parent, str(err), title)
    traceback.print_exception(type(err), err, err.__traceback__)
    first = (str(err).splitlines() or [""])[0]
    return show_error(parent, f"internal error: {type(err).__name__}: {first}", title)


def _show(parent: QWidget | None, icon: QMessageBox.Icon, title: str, message: str
          ) -> QMessageBox:
    shown.append((title, message))
    print(f"{TOOL_NAME}: {title}: {message}", file=sys.stderr)
    box = QMessageBox(icon, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("forensicsMessage")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()  # window-modal, returns at once
    return box


def install_excepthook(parent_getter) -> None:
    """Uncaught exceptions in slots become a dialog instead of killing the app."""

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        traceback.print_exception(exc_type, exc, tb)
        with contextlib.suppress(Exception):  # the hook itself must never raise
            report(parent_getter(), exc)

    sys.excepthook = hook


# -- questions -----------------------------------------------------------------------------
# Every file chooser and text prompt goes through these, so tests can answer them by
# replacing the function (monkeypatch `dialogs.ask_save_file`, ...) instead of a modal dialog.
# Each returns "" / None / [] when the user cancels.

def ask_open_file(parent: QWidget | None, title: str, start: str = "", filters: str = "") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, start, filters)
    return path


def ask_open_files(parent: QWidget | None, title: str, start: str = "", filters: str = ""
                   ) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, start, filters)
    return list(paths)


def ask_save_file(parent: QWidget | None, title: str, start: str = "", filters: str = "") -> str:
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    return path


def ask_folder(parent: QWidget | None, title: str, start: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, title, start)


def ask_item(parent: QWidget | None, title: str, label: str, items: list[str]) -> str | None:
    choice, ok = QInputDialog.getItem(parent, title, label, items, 0, False)
    return choice if ok else None


def ask_yes_no(parent: QWidget | None, title: str, text: str) -> bool:
    """A question whose safe answer is No (the default button)."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, buttons, QMessageBox.StandardButton.No) \
        == QMessageBox.StandardButton.Yes


def ask_new_case(parent: QWidget | None) -> tuple[str, str, str] | None:
    """(folder, case id, examiner) of a new case, or None. The folder may be typed as a new
    name (it is created), or chosen with Browse."""
    from forensics_app.ui.case_dialog import NewCaseDialog

    dialog = NewCaseDialog(parent)
    return dialog.answer() if dialog.exec() else None
