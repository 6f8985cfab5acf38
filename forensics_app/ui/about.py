"""Help → How to read the views, and Help → About."""

from __future__ import annotations

import platform
from pathlib import Path

import pyqtgraph as pg
import torch
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.analysis.results import ModelInfo
from forensics_app.core.devices import describe_device, resolve_device
from forensics_app.core.errors import ForensicsError
from forensics_app.core.models.figures import held_out_markdown
from forensics_app.core.models.registry import CARD_MARKDOWN, read_card, resolve_model_folder
from forensics_app.ui.resources import resource_text


def show_markdown(parent, title: str, text: str, name: str, base: Path | None = None
                  ) -> QDialog:
    """A non-modal reading window for a Markdown text (help, a model card). `base`: the
    folder its images are relative to (a model card's reliability diagram)."""
    dialog = QDialog(parent)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.resize(760, 720)
    browser = QTextBrowser()
    browser.setObjectName(f"{name}Text")
    browser.setOpenExternalLinks(False)
    if base is not None:
        browser.setSearchPaths([str(base)])
    browser.setMarkdown(text)
    _wrap_code_blocks(browser)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(buttons)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def _wrap_code_blocks(browser: QTextBrowser) -> None:
    """Code blocks (a card's training commands) wrap at the window's edge instead of
    running past it: Qt's Markdown reader marks their lines unbreakable."""
    cursor = QTextCursor(browser.document())
    block = browser.document().begin()
    while block.isValid():
        if block.blockFormat().nonBreakableLines():
            fmt = block.blockFormat()
            fmt.setNonBreakableLines(False)
            cursor.setPosition(block.position())
            cursor.setBlockFormat(fmt)
        block = block.next()


def show_help(parent) -> QDialog:
    return show_markdown(parent, "How to read the views", resource_text("help.md"), "helpDialog")


def model_card_text(bundle, model_spec) -> str:
    """The card of the model behind what is shown: the loaded results' model when results are
    open (its MODEL_CARD.md if that very build, same SHA-256, is installed here; otherwise the
    figures its card carried when the analysis ran, which the results keep), else the model
    analyses would use."""
    return model_card_document(bundle, model_spec)[0]


def model_card_document(bundle, model_spec) -> tuple[str, Path | None]:
    """`model_card_text`, and the folder its images lie in (None: no MODEL_CARD.md shown)."""
    recorded = bundle.results.model if bundle is not None else None
    try:
        folder = resolve_model_folder(recorded.name if recorded is not None else model_spec)
        card = read_card(folder)
    except ForensicsError:
        folder = card = None
    if card is not None and (recorded is None or card.sha256 == recorded.sha256):
        document = folder / CARD_MARKDOWN
        try:
            return document.read_text(encoding="utf-8"), folder
        except FileNotFoundError:
            why = "It has no MODEL_CARD.md"
        except (OSError, UnicodeDecodeError) as err:  # the card's figures still stand
            why = f"Its MODEL_CARD.md could not be read ({err})"
        return _summary_text(ModelInfo(**card.summary()),
                             f"{why}; this is what its model_card.json says."), None
    if recorded is None:
        return ("No model is installed: `forensics-app models` lists what is found, and "
                "where."), None
    why = ("another build of it is installed here (a different SHA-256)" if card is not None
           else "it is not installed here")
    return _summary_text(recorded, f"The model that made these results is not shown from its "
                         f"MODEL_CARD.md: {why}. What follows is what its card said when the "
                         "analysis ran (the results keep it)."), None


def _summary_text(info: ModelInfo, note: str) -> str:
    lines = [f"# {info.name} {info.version}", "", f"Weights SHA-256 `{info.sha256}`.", "",
             note, "", f"**What it learned from.** {info.training_data or 'not stated'}", ""]
    table = held_out_markdown(info.metrics)
    lines += [*table, ""] if table else ["Its card records no held-out figures.", ""]
    if info.limitations:
        lines += ["**Limitations**", "", *[f"- {item}" for item in info.limitations]]
    return "\n".join(lines)


def show_model_card(parent, bundle, model_spec) -> QDialog:
    text, folder = model_card_document(bundle, model_spec)
    return show_markdown(parent, "The model and how well it does", text, "modelCardDialog",
                         base=folder)


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
