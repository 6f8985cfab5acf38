"""Free text in the report (notes, names, paths): script fallback and right-to-left lines.

PDF text is drawn glyph by glyph, left to right, with no shaping. Arabic needs its letters
joined (contextual forms) and right-to-left runs put in visual order; the Unicode bidi
algorithm does that per *display line*, after line breaking. So right-to-left text is broken
into lines here (at the width the layout offers), and each line is then shaped
(arabic-reshaper) and reordered (python-bidi). Without those two packages the text is
drawn in logical order, letters unjoined, and `SHAPING_AVAILABLE` is False (the report's
limitations say so).
"""

from __future__ import annotations

import re

from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph

from forensics_app.core.report.fonts import FontSet

try:
    import arabic_reshaper
    from bidi import get_display
except ImportError:  # optional: see the module docstring
    arabic_reshaper = None
    get_display = None

SHAPING_AVAILABLE = arabic_reshaper is not None and get_display is not None
# Hebrew, Arabic, Syriac, Thaana, NKo... and the Arabic/Hebrew presentation forms.
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
_STRONG_LTR = re.compile(r"[A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff\u3040-\u9fff]")


def has_rtl(text: str) -> bool:
    return _RTL.search(text) is not None


def starts_rtl(text: str) -> bool:
    """Paragraph direction from its first strong character (Unicode bidi rule P2)."""
    rtl, ltr = _RTL.search(text), _STRONG_LTR.search(text)
    return rtl is not None and (ltr is None or rtl.start() < ltr.start())


def shape(text: str) -> str:
    """Arabic letters in their joined forms, still in logical order."""
    return arabic_reshaper.reshape(text) if SHAPING_AVAILABLE and has_rtl(text) else text


def reorder(line: str) -> str:
    """One display line in visual (left-to-right drawing) order."""
    return get_display(line) if SHAPING_AVAILABLE and has_rtl(line) else line


def visual(line: str) -> str:
    """One display line of logical text, shaped and reordered."""
    return reorder(shape(line))


def markup(text: str, fonts: FontSet) -> str:
    """Paragraph markup for plain left-to-right text; newlines become line breaks."""
    return "<br/>".join(fonts.markup(line) for line in text.split("\n"))


def rich(text: str, style: ParagraphStyle, fonts: FontSet) -> Flowable:
    """A paragraph of plain (untrusted, any-script) text."""
    if has_rtl(text):
        return BidiParagraph(text, style, fonts)
    return Paragraph(markup(text, fonts), style)


class BidiParagraph(Flowable):
    """Text with right-to-left runs: broken into lines at wrap time, each line reordered."""

    def __init__(self, text: str, style: ParagraphStyle, fonts: FontSet) -> None:
        super().__init__()
        self.text = text
        self.style = style
        self.fonts = fonts
        self._para: Paragraph | None = None

    def _layout(self, width: float) -> Paragraph:
        lines = [line for block in self.text.split("\n")
                 for line in self._break(shape(block), width)]
        style = ParagraphStyle(f"{self.style.name}-bidi", parent=self.style,
                               alignment=TA_RIGHT if starts_rtl(self.text) else TA_LEFT)
        return Paragraph("<br/>".join(self.fonts.markup(reorder(line)) for line in lines), style)

    def _break(self, block: str, width: float) -> list[str]:
        """Greedy line breaking at spaces, on shaped text so widths are the drawn widths."""
        lines: list[str] = []
        for word in block.split(" "):
            candidate = f"{lines[-1]} {word}" if lines else word
            size = self.style.fontSize
            if lines and self.fonts.width(candidate, size, self.style.fontName) <= width:
                lines[-1] = candidate
            else:
                lines.append(word)
        return lines or [""]

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self._para = self._layout(avail_width)
        return self._para.wrap(avail_width, avail_height)

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        return self._layout(avail_width).split(avail_width, avail_height)

    def draw(self) -> None:
        self._para.drawOn(self.canv, 0, 0)

    def getSpaceBefore(self) -> float:  # ReportLab's method names
        return self.style.spaceBefore

    def getSpaceAfter(self) -> float:
        return self.style.spaceAfter
