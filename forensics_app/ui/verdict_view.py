"""The verdict: real/fake bars, p_fake, confidence band and its meaning, model, indicators."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from forensics_app.core.analysis.metrics import indicator_label, indicator_number, rates_text
from forensics_app.core.analysis.verdict import BAND_MEANINGS
from forensics_app.ui.common import NOT_PROOF, WrapLabel
from forensics_app.ui.state import AppState

LABEL_COLORS = {"fake": "#e53935", "real": "#43a047", "inconclusive": "#9e9e9e"}
MAX_FRAME_LINKS = 12
WEAK_BANDS = ("low", "none")


def headline_band(pred) -> str:
    """What stands beside the label: the band and the probability of the stated label."""
    if pred.band == "none" or pred.confidence is None:
        return "· no usable evidence"
    # "confidence band: confident", as the report says it (not "confident confidence")
    return f"· confidence band: {pred.band} ({pred.confidence:.0%})"


def _bar(name: str, color: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setObjectName(name)
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    bar.setStyleSheet(f"QProgressBar::chunk {{ background: {color}; }}")
    return bar


class VerdictView(QWidget):
    cardRequested = Signal()  # the model row's "its card" link: how far the verdict carries

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.label = QLabel("no analysis")
        self.label.setObjectName("verdictLabel")
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # The band stands beside the label at the same size and weight: "REAL" alone would
        # read as certain when the probability is near the threshold (docs/DESIGN.md,
        # "Verdict and confidence").
        self.headline_band = WrapLabel("")
        self.headline_band.setObjectName("verdictBand")
        self.headline_band.setAlignment(Qt.AlignmentFlag.AlignLeft
                                        | Qt.AlignmentFlag.AlignVCenter)
        headline = QHBoxLayout()
        headline.addWidget(self.label)
        headline.addWidget(self.headline_band, 1)
        self.real_bar = _bar("realBar", LABEL_COLORS["real"])
        self.fake_bar = _bar("fakeBar", LABEL_COLORS["fake"])
        self.p_fake = QLabel("–")
        self.p_fake.setObjectName("pFakeLabel")
        # Wrapped rows claim their full height: a cut-off meaning would misinform.
        self.band = WrapLabel("–")
        self.band.setObjectName("bandLabel")
        self.reason = WrapLabel("–")
        self.reason.setObjectName("reasonLabel")
        self.model = WrapLabel("–")
        self.model.setObjectName("modelLabel")
        self.model.setTextFormat(Qt.TextFormat.RichText)  # names escaped in _on_results
        self.model.linkActivated.connect(lambda _link: self.cardRequested.emit())
        form = QFormLayout()
        form.addRow("real", self.real_bar)
        form.addRow("fake", self.fake_bar)
        form.addRow("p_fake", self.p_fake)
        form.addRow("confidence", self.band)
        form.addRow("why", self.reason)
        form.addRow("model", self.model)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("indicatorTable")
        self.table.setHorizontalHeaderLabels(["indicator", "value", "limit", "frames"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        # the indicator's name is read in full; the frame links take what is left
        for col in (0, 1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        rows = 3  # at least this many indicator rows, whole, however small the window
        self.table.setMinimumHeight(header.sizeHint().height()
                                    + rows * self.table.verticalHeader().defaultSectionSize() + 4)
        note = QLabel(NOT_PROOF + " Indicators flag patterns worth a look, not findings.")
        note.setObjectName("hint")
        note.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(headline)
        layout.addLayout(form)
        caption = QLabel("Indicators (triggered in red; grey: reference only, not shown "
                         "to separate real from fake clips; click a frame to go there):")
        caption.setWordWrap(True)  # a narrow dock wraps it instead of scrolling sideways
        layout.addWidget(caption)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        state.resultsChanged.connect(self._on_results)
        self._on_results(state.bundle)

    def _on_results(self, bundle) -> None:
        self.table.setRowCount(0)
        if bundle is None:
            refused = self.state.refused
            self.label.setText("RESULTS REFUSED" if refused else "no analysis")
            self.label.setStyleSheet("font-weight: bold; color: #c62828;" if refused else "")
            self.headline_band.setText("")
            self.headline_band.setStyleSheet("")
            for bar in (self.real_bar, self.fake_bar):
                bar.setValue(0)
                bar.setFormat("–")
            for w in (self.p_fake, self.band, self.reason, self.model):
                w.setText("–")
            if refused:
                self.reason.setText(f"{refused}. Nothing of these results is shown.")
            return
        r = bundle.results
        pred = r.prediction
        # a weak verdict is not drawn in the verdict's full colour
        weak = pred.band in WEAK_BANDS
        color = "#b0b4ba" if weak else LABEL_COLORS.get(pred.label, "#9e9e9e")
        style = f"font-size: 17pt; font-weight: bold; color: {color};"
        self.label.setText(pred.label.upper())
        self.label.setStyleSheet(style)
        self.headline_band.setText(headline_band(pred))
        self.headline_band.setStyleSheet(style)
        p = pred.p_fake
        for bar, value in ((self.real_bar, None if p is None else 1 - p),
                           (self.fake_bar, p)):
            bar.setValue(0 if value is None else round(value * 1000))
            bar.setFormat("–" if value is None else f"{value:.1%}")
        self.p_fake.setText("–" if p is None else f"{p:.3f} (threshold {pred.threshold:.2f})")
        if pred.confidence is not None and pred.band != "none":
            self.band.setText(f"{pred.confidence:.1%} — {pred.band}: {BAND_MEANINGS[pred.band]}")
        else:
            self.band.setText(f"none — {BAND_MEANINGS['none']}")
        # Media-integrity warnings (results.warnings) come first: the verdict is read with them.
        self.reason.setText("\n".join([*(f"⚠ WARNING: {w}" for w in r.warnings), pred.reason]))
        m = r.model
        tag = "  [UNTRAINED PLACEHOLDER: scores mean nothing]" if m.placeholder else ""
        self.model.setText(html.escape(f"{m.name} {m.version} · sha256 {m.sha256[:12]}…{tag}")
                           + ' · <a href="card">its card: how well it does</a>')
        self._fill_indicators(r.indicators)

    def _fill_indicators(self, indicators) -> None:
        self.table.setRowCount(len(indicators))
        for row, ind in enumerate(indicators):
            name = QTableWidgetItem(indicator_label(ind.name))
            name.setToolTip(f"{ind.description}. {rates_text(ind)}")
            value = QTableWidgetItem(indicator_number(ind.name, ind.value, ".3f"))
            ref = ind.threshold is None or ind.threshold != ind.threshold  # None or NaN
            threshold = QTableWidgetItem("ref." if ref else
                                         indicator_number(ind.name, ind.threshold, "g"))
            if ind.reference_only:  # not separating (or unmeasured): never shown in red
                name.setText(name.text() + " (reference only)")
                for item in (name, value, threshold):
                    item.setForeground(Qt.GlobalColor.gray)
                    item.setToolTip(f"{ind.description}. {rates_text(ind)}")
            if ind.flagged:
                for item in (name, value):
                    item.setForeground(Qt.GlobalColor.red)
                name.setText("⚑ " + name.text())
            for col, item in enumerate((name, value, threshold)):
                self.table.setItem(row, col, item)
            links = QLabel(self._links(ind.frames))
            links.setObjectName(f"frames_{ind.name}")
            links.setTextFormat(Qt.TextFormat.RichText)
            links.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
            links.linkActivated.connect(lambda href: self.state.set_frame(int(href)))
            self.table.setCellWidget(row, 3, links)
        self.table.resizeRowsToContents()

    @staticmethod
    def _links(frames: list[int]) -> str:
        if not frames:
            return "–"
        shown = ", ".join(f'<a href="{f}" style="color:#4fc3f7">{f}</a>'
                          for f in frames[:MAX_FRAME_LINKS])
        more = len(frames) - MAX_FRAME_LINKS
        return shown + (f" … (+{more})" if more > 0 else "")
