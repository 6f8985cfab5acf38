"""Fonts for the report: found on disk, embedded (subset) in the PDF, with per-script fallback.

ReportLab draws a run of text in one font and has no glyph fallback, and the standard PDF
fonts cover Latin-1 only. So every piece of free text (notes, names, file names) is split into
runs, each drawn with the first font that has its characters: Noto Sans for Latin, Greek and
Cyrillic, Noto Sans Arabic / Hebrew / Devanagari, then a CJK font. ReportLab cannot embed
CFF-flavoured OpenType (the Noto CJK .ttc files), so CJK comes from a TrueType font:
Droid Sans Fallback (Debian fonts-droid-fallback) or WenQuanYi Micro Hei.

Fonts are looked for in the project's resources/fonts first, then $FORENSICS_FONTS_DIR, then
the usual system and user font folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from forensics_app.core.errors import ForensicsError

_REPO_ROOT = Path(__file__).resolve().parents[3]
FONT_DIRS = (
    _REPO_ROOT / "resources" / "fonts",
    _REPO_ROOT / "forensics_app" / "resources" / "fonts",
    Path.home() / ".local" / "share" / "fonts",
    Path.home() / ".fonts",
    Path("/usr/local/share/fonts"),
    Path("/usr/share/fonts"),
)
# Each role: file names in order of preference (Noto first, DejaVu as the common fallback).
ROLES = {
    "regular": ("NotoSans-Regular.ttf", "DejaVuSans.ttf"),
    "bold": ("NotoSans-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "mono": ("NotoSansMono-Regular.ttf", "DejaVuSansMono.ttf"),
}
# Fallbacks in order; each entry: alternative files, the first one found is used.
FALLBACKS = (
    ("NotoSansArabic-Regular.ttf", "DejaVuSans.ttf"),
    ("NotoSansHebrew-Regular.ttf",),
    ("NotoSansDevanagari-Regular.ttf",),
    ("NotoSansThai-Regular.ttf",),
    ("DejaVuSans.ttf",),  # wide coverage: symbols, Armenian, Georgian, ...
    ("DroidSansFallbackFull.ttf", "wqy-microhei.ttc"),  # CJK in TrueType outlines
)
INSTALL_HINT = ("install the Debian packages fonts-noto-core and fonts-droid-fallback "
                "(or fonts-dejavu-core), or copy NotoSans-Regular.ttf into resources/fonts")


@dataclass
class FontSet:
    """Registered ReportLab font names and what each fallback can draw."""

    regular: str
    bold: str
    mono: str
    fallbacks: list[tuple[str, frozenset[int]]] = field(default_factory=list)
    base_chars: frozenset[int] = frozenset()
    files: dict[str, Path] = field(default_factory=dict)  # font name → file, for the Method page

    def font_for(self, char: str) -> str | None:
        """The fallback font that draws `char`, or None when the base font does (or none can)."""
        code = ord(char)
        if code in self.base_chars or char.isspace():
            return None
        return next((name for name, chars in self.fallbacks if code in chars), None)

    def runs(self, text: str) -> list[tuple[str | None, str]]:
        """Split text into (fallback font or None, run); spaces stay in the current run."""
        runs: list[tuple[str | None, str]] = []
        for char in text:
            font = runs[-1][0] if runs and char.isspace() else self.font_for(char)
            if runs and runs[-1][0] == font:
                runs[-1] = (font, runs[-1][1] + char)
            else:
                runs.append((font, char))
        return runs

    def markup(self, text: str) -> str:
        """Paragraph markup for plain `text`: escaped, fallback runs wrapped in <font> tags."""
        return "".join(escape(run) if font is None else f'<font name="{font}">{escape(run)}</font>'
                       for font, run in self.runs(text))

    def width(self, text: str, size: float, font: str | None = None) -> float:
        """Drawn width of plain text in points, each run measured in the font that draws it."""
        return sum(pdfmetrics.stringWidth(run, fallback or font or self.regular, size)
                   for fallback, run in self.runs(text))

    def missing(self, text: str) -> set[str]:
        """Characters no available font can draw (they would print as empty boxes)."""
        return {c for c in text if not c.isspace() and ord(c) not in self.base_chars
                and self.font_for(c) is None}


def font_dirs() -> list[Path]:
    extra = os.environ.get("FORENSICS_FONTS_DIR")
    dirs = ([Path(extra)] if extra else []) + list(FONT_DIRS)
    return [d for d in dirs if d.is_dir()]


@cache
def _index(dirs: tuple[Path, ...]) -> dict[str, Path]:
    """File name → first path found, searching `dirs` in order (earlier folders win)."""
    found: dict[str, Path] = {}
    for folder in dirs:
        for root, _, names in os.walk(folder):
            for name in names:
                found.setdefault(name, Path(root) / name)
    return found


def find_font(candidates: tuple[str, ...]) -> Path | None:
    index = _index(tuple(font_dirs()))
    return next((index[name] for name in candidates if name in index), None)


@cache
def load_fonts() -> FontSet:
    """Find and register the report fonts once per process; ForensicsError if none is found."""
    paths = {role: find_font(names) for role, names in ROLES.items()}
    if paths["regular"] is None:
        searched = ", ".join(str(d) for d in font_dirs()) or "no font folder exists"
        raise ForensicsError(f"no font for the report (searched {searched}); {INSTALL_HINT}")
    paths["bold"] = paths["bold"] or paths["regular"]
    paths["mono"] = paths["mono"] or paths["regular"]
    names = {role: _register(f"FA-{role}", path) for role, path in paths.items()}
    # <b> inside a paragraph switches to the bold face of the family.
    addMapping(names["regular"], 0, 0, names["regular"])
    addMapping(names["regular"], 1, 0, names["bold"])
    addMapping(names["regular"], 0, 1, names["regular"])
    addMapping(names["regular"], 1, 1, names["bold"])
    fonts = FontSet(names["regular"], names["bold"], names["mono"],
                    base_chars=_chars(names["regular"]),
                    files={names[r]: p for r, p in paths.items()})
    for number, alternatives in enumerate(FALLBACKS):
        path = find_font(alternatives)
        if path is None or path in fonts.files.values():
            continue
        try:
            name = _register(f"FA-fallback{number}", path)
        except ForensicsError:
            continue  # a broken fallback only costs its script, not the report
        fonts.fallbacks.append((name, _chars(name)))
        fonts.files[name] = path
    return fonts


def _register(name: str, path: Path) -> str:
    try:
        pdfmetrics.registerFont(TTFont(name, str(path)))
    except (TTFError, OSError) as err:
        raise ForensicsError(f"font cannot be used ({err}); {INSTALL_HINT}", path) from err
    return name


def _chars(name: str) -> frozenset[int]:
    return frozenset(pdfmetrics.getFont(name).face.charToGlyph)
