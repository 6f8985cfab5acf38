"""The PDF frame: paper, styles, the header and footer of every page, "page i of n".

The sections (sections.py) are lists of flowables built with the `Kit` below, so that fonts,
styles and table looks are decided in one place.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

from forensics_app.core.errors import ForensicsError
from forensics_app.core.report.fonts import FontSet
from forensics_app.core.report.text import rich

PAPERS = {"a4": A4, "letter": LETTER}
MARGIN = 16 * mm
RED = colors.HexColor("#c62828")
GREEN = colors.HexColor("#2e7d32")
GREY = colors.HexColor("#616161")
RULE = colors.HexColor("#bdbdbd")
HEAD_BG = colors.HexColor("#eceff1")
# Draws the running header/footer on one page: (canvas, page number, page count).
PageDecorator = Callable[[Canvas, int, int], None]


def paper_size(paper: str) -> tuple[float, float]:
    try:
        return PAPERS[paper.lower()]
    except KeyError:
        raise ForensicsError(f"unknown paper size {paper!r}: use a4 or letter") from None


@dataclass
class Kit:
    """Fonts, styles and builders shared by every section."""

    fonts: FontSet
    width: float  # usable text width in points

    def __post_init__(self) -> None:
        f = self.fonts
        self.body = ParagraphStyle("body", fontName=f.regular, fontSize=9, leading=12,
                                   spaceAfter=4)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=7.5, leading=9.5,
                                    spaceAfter=0)
        self.mono = ParagraphStyle("mono", parent=self.small, fontName=f.mono, fontSize=7.2)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=8, leading=10,
                                   spaceAfter=0)
        self.h1 = ParagraphStyle("h1", parent=self.body, fontName=f.bold, fontSize=15,
                                 leading=19, spaceBefore=2, spaceAfter=8,
                                 keepWithNext=1)
        self.h2 = ParagraphStyle("h2", parent=self.body, fontName=f.bold, fontSize=12,
                                 leading=15, spaceBefore=10, spaceAfter=5,
                                 keepWithNext=1)  # a heading never ends a page
        self.h3 = ParagraphStyle("h3", parent=self.body, fontName=f.bold, fontSize=9.5,
                                 leading=12, spaceBefore=6, spaceAfter=3,
                                 keepWithNext=1)
        self.caption = ParagraphStyle("caption", parent=self.small, textColor=GREY,
                                      spaceAfter=6)

    # -- text ------------------------------------------------------------------------------
    def p(self, markup: str, style: ParagraphStyle | None = None) -> Paragraph:
        """Trusted markup written by this code (may hold <b>, <font color>...)."""
        return Paragraph(markup, style or self.body)

    def text(self, plain: str, style: ParagraphStyle | None = None) -> Flowable:
        """Untrusted plain text in any script: escaped, font fallback, right-to-left lines."""
        return rich(plain, style or self.cell, self.fonts)

    def code(self, plain: str) -> Flowable:
        """Hashes, paths, command lines: monospaced, allowed to break anywhere."""
        style = ParagraphStyle("code", parent=self.mono, wordWrap="CJK")
        return rich(plain, style, self.fonts)

    # -- tables ----------------------------------------------------------------------------
    def fields(self, rows: Sequence[tuple[str, Any]], label_share: float = 0.28,
               width: float | None = None) -> Table:
        """A two-column label/value table; string values are treated as trusted markup."""
        data = [[self.p(f"<b>{label}</b>", self.cell),
                 self.p(value, self.cell) if isinstance(value, str) else value]
                for label, value in rows]
        width = width or self.width
        widths = [width * label_share, width * (1 - label_share)]
        table = Table(data, colWidths=widths, hAlign="LEFT")
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ]))
        return table

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[Flowable | str]],
             shares: Sequence[float]) -> Table:
        """A table with a header row that repeats on every page it spans."""
        data = [[self.p(f"<b>{h}</b>", self.cell) for h in header]]
        data += [[self.p(c, self.cell) if isinstance(c, str) else c for c in row]
                 for row in rows]
        table = Table(data, colWidths=[self.width * s for s in shares], repeatRows=1,
                      hAlign="LEFT")
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ]))
        return table

    def banner(self, markup: str, background: colors.Color = RED) -> Table:
        """A full-width coloured box for what must not be missed."""
        style = ParagraphStyle("banner", parent=self.body, fontName=self.fonts.bold,
                               textColor=colors.white, fontSize=10, leading=13, spaceAfter=0)
        table = Table([[Paragraph(markup, style)]], colWidths=[self.width])
        table.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), background),
            ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
        ]))
        return table


def numbered_canvas(decorate: PageDecorator) -> type[Canvas]:
    """A canvas class that knows the page count when it draws each page's footer.

    ReportLab emits pages as it goes; the total is only known at the end, so each page's
    state is kept and the footers are drawn in `save()`.
    """

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self) -> None:  # ReportLab's method names
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                decorate(self, number, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def build_pdf(story: list[Flowable], paper: str, decorate: PageDecorator,
              metadata: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=paper_size(paper), leftMargin=MARGIN,
                            rightMargin=MARGIN, topMargin=MARGIN + 4 * mm,
                            bottomMargin=MARGIN + 6 * mm, **metadata)
    doc.build(story, canvasmaker=numbered_canvas(decorate))
    return buffer.getvalue()


def text_width(paper: str) -> float:
    return paper_size(paper)[0] - 2 * MARGIN


def draw_runs(canvas: Canvas, x: float, y: float, text: str, size: float, fonts: FontSet,
              font: str | None = None, align: str = "left") -> None:
    """Draw one line of (already visual-order) text on the canvas with font fallback."""
    if align in ("right", "center"):
        x -= fonts.width(text, size, font) / (1 if align == "right" else 2)
    for fallback, run in fonts.runs(text):
        name = fallback or font or fonts.regular
        canvas.setFont(name, size)
        canvas.drawString(x, y, run)
        x += canvas.stringWidth(run, name, size)
