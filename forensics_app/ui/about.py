"""Help → How to read the views, and Help → About."""

from __future__ import annotations

import platform

import pyqtgraph as pg
import torch
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.devices import describe_device, resolve_device
from forensics_app.core.errors import ForensicsError
from forensics_app.core.models.registry import read_card, resolve_model_folder
from forensics_app.ui.resources import resource_text


def show_help(parent) -> QDialog:
    dialog = QDialog(parent)
    dialog.setObjectName("helpDialog")
    dialog.setWindowTitle("How to read the views")
    dialog.resize(760, 720)
    browser = QTextBrowser()
    browser.setOpenExternalLinks(False)
    browser.setMarkdown(resource_text("help.md"))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(buttons)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def about_text(bundle, model_spec, devices: list[str]) -> str:
    if bundle is not None:
        model = f"{bundle.results.model.name} {bundle.results.model.version}"
    else:
        try:
            card = read_card(resolve_model_folder(model_spec))
            model = f"{card.name} {card.version}" + (" (placeholder)" if card.placeholder
                                                     else "")
        except ForensicsError:
            model = "none installed"
    device_text = ", ".join(describe_device(resolve_device(d)) for d in devices)
    cuda = torch.version.cuda or "not built with CUDA"
    return (f"<b>{TOOL_NAME} {__version__}</b><br>Offline, explainable deepfake analysis "
            f"of video evidence.<br><br>model: {model}<br>torch: {torch.__version__} "
            f"(CUDA {cuda})<br>devices: {device_text}<br>PySide6: {pyside_version} · "
            f"pyqtgraph: {pg.__version__}<br>Python {platform.python_version()} on "
            f"{platform.platform(terse=True)}<br><br>Attention maps show where the model "
            "looked, not proof of manipulation.")


def show_about(parent, text: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, f"About {TOOL_NAME}", text,
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("aboutBox")
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
