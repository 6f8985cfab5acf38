"""`forensics-app gui [VIDEO_OR_CASE]`: the desktop workstation (also the default command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from forensics_app.core.errors import ForensicsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="start the desktop workstation (the default)",
                       description="Open the desktop workstation, optionally with a video, a "
                       "case folder or a results folder.")
    p.add_argument("path", nargs="?", type=Path, default=None, metavar="VIDEO_OR_CASE")
    p.add_argument("--smoke-test", action="store_true",
                   help="open PATH, wait until its first frame is shown, print one line, quit "
                   "(checks an installed or packaged build; works with QT_QPA_PLATFORM=offscreen)")
    p.add_argument("--model", default=None,
                   help="model folder or name to analyse with (default: the default model)")
    p.add_argument("--frames", type=int, default=None, help="frames to sample, 1-100 (100)")
    p.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                   help="analyse PATH, save a picture of the window to PNG and quit")
    p.add_argument("--window-size", type=_size, default=(1600, 1000), metavar="WxH",
                   help="window size for --screenshot (1600x1000)")
    p.set_defaults(run=run)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError("use WIDTHxHEIGHT, e.g. 1366x768") from err
    return width, height


def run(args: argparse.Namespace) -> int:
    try:  # Qt only when the GUI is asked for: the base install is headless
        from forensics_app.ui.app import run_gui
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in ("PySide6", "shiboken6", "pyqtgraph",
                                                  "superqt"):
            raise
        raise ForensicsError(f"the desktop app needs the gui extra ({err.name} is not "
                             "installed): pip install 'forensics-app[gui]'") from err

    return run_gui(args.path, smoke_test=args.smoke_test, screenshot=args.screenshot,
                   model=args.model, frames=args.frames, size=args.window_size)
