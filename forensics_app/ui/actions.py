"""Every command of the window declared as data: id, title, shortcut, menu, handler.

`ACTIONS` is the one table; `install_actions` makes the QActions (each added to the window,
so its shortcut works wherever the focus is), the menus and the toolbar from it. A handler
is the name of a window method, or a function of the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

Shortcut = str | QKeySequence.StandardKey | tuple[str, ...] | None


@dataclass(frozen=True)
class ActionSpec:
    id: str  # the QAction's objectName, and `window.actions_by_id[id]`
    title: str
    shortcut: Shortcut
    menu: str  # "File", "Analysis", "Playback", "View", "Help"
    handler: str | Callable[[Any], None]  # a window method's name, or fn(window)
    toolbar: bool = False
    separator_before: bool = False
    role: QAction.MenuRole | None = None


def _step(delta: int) -> Callable[[Any], None]:
    return lambda w: w.state.step(delta)


def _seconds(delta: float) -> Callable[[Any], None]:
    return lambda w: w.state.step_seconds(delta)


def _shuttle(direction: int) -> Callable[[Any], None]:
    return lambda w: w.player.shuttle(direction)


def _unusual(direction: int) -> Callable[[Any], None]:
    return lambda w: w.jump_unusual(direction)


def _analyse_folder(window: Any) -> None:
    from forensics_app.ui.batch import analyse_folder_dialog  # the batch code loads on use

    analyse_folder_dialog(window)


SK = QKeySequence.StandardKey
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("actOpen", "&Open video…", SK.Open, "File", "open_video_dialog", toolbar=True),
    ActionSpec("actOpenCase", "Open &case…", "Ctrl+Shift+O", "File", "open_case_dialog",
               toolbar=True, separator_before=True),
    ActionSpec("actNewCase", "&New case…", "Ctrl+Shift+N", "File", "new_case_dialog"),
    ActionSpec("actSaveCase", "&Save case…", SK.Save, "File", "save_case_dialog"),
    ActionSpec("actCloseCase", "C&lose case", None, "File", "close_case"),
    ActionSpec("actOpenResults", "Open &results folder…", None, "File", "open_results_dialog"),
    ActionSpec("actAnalyseFolder", "Analyse &folder…", None, "File", _analyse_folder),
    ActionSpec("actReport", "&Export report…", "Ctrl+E", "File", "export_report_dialog",
               separator_before=True),
    ActionSpec("actQuit", "&Quit", SK.Quit, "File", "close", separator_before=True),
    ActionSpec("actAnalyse", "&Analyse this video", ("Ctrl+R", "F5"), "Analysis",
               "analyse_current", toolbar=True),
    ActionSpec("actQueue", "&Queue videos for analysis…", None, "Analysis", "queue_dialog"),
    ActionSpec("actCancel", "&Cancel current analysis", "Ctrl+.", "Analysis", "cancel_current"),
    ActionSpec("actCancelAll", "Cancel &all analyses", None, "Analysis",
               lambda w: w.pool.cancel_all()),
    ActionSpec("actPlay", "Play / pause", "Space", "Playback", lambda w: w.player.toggle_play()),
    ActionSpec("actPrev", "Previous frame", "Left", "Playback", _step(-1)),
    ActionSpec("actNext", "Next frame", "Right", "Playback", _step(1)),
    ActionSpec("actPrevSecond", "Back 1 s", "Shift+Left", "Playback", _seconds(-1.0)),
    ActionSpec("actNextSecond", "Forward 1 s", "Shift+Right", "Playback", _seconds(1.0)),
    ActionSpec("actStart", "Jump to start", "Home", "Playback", lambda w: w.player.to_start()),
    ActionSpec("actEnd", "Jump to end", "End", "Playback", lambda w: w.player.to_end()),
    ActionSpec("actJ", "Play backwards / faster (J)", "J", "Playback", _shuttle(-1)),
    ActionSpec("actK", "Pause (K)", "K", "Playback", lambda w: w.player.pause()),
    ActionSpec("actL", "Play forwards / faster (L)", "L", "Playback", _shuttle(1)),
    ActionSpec("actPrevUnusual", "Previous unusual frame", "Ctrl+Left", "Playback",
               _unusual(-1), separator_before=True),
    ActionSpec("actNextUnusual", "Next unusual frame", "Ctrl+Right", "Playback", _unusual(1)),
    ActionSpec("actResetLayout", "&Reset layout", None, "View", "reset_layout",
               separator_before=True),
    ActionSpec("actHelp", "&How to read the views", SK.HelpContents, "Help", "show_help",
               toolbar=True),
    ActionSpec("actModelCard", "The &model and how well it does", None, "Help",
               "show_model_card"),
    ActionSpec("actAbout", "&About", None, "Help", "show_about", role=QAction.MenuRole.AboutRole),
)
MENUS = ("File", "Analysis", "Playback", "View", "Help")


def make_action(window: QMainWindow, spec: ActionSpec) -> QAction:
    action = QAction(spec.title, window)
    action.setObjectName(spec.id)
    if isinstance(spec.shortcut, tuple):
        action.setShortcuts([QKeySequence(s) for s in spec.shortcut])
    elif spec.shortcut is not None:
        action.setShortcut(QKeySequence(spec.shortcut))
    handler = spec.handler
    if isinstance(handler, str):
        action.triggered.connect(lambda _checked=False, name=handler: getattr(window, name)())
    else:
        action.triggered.connect(lambda _checked=False, fn=handler: fn(window))
    if spec.role is not None:
        action.setMenuRole(spec.role)
    window.addAction(action)  # shortcuts work wherever the focus is in the window
    return action


def install_actions(window: QMainWindow, extra_view: list[QAction]) -> dict[str, QAction]:
    """The actions, the menu bar (View also lists `extra_view`: the docks' toggles) and
    return them by id. The toolbar is built by the window (it holds widgets too)."""
    actions = {spec.id: make_action(window, spec) for spec in ACTIONS}
    menus: dict[str, QMenu] = {}
    for title in MENUS:
        menus[title] = window.menuBar().addMenu(f"&{title}")
        menus[title].setObjectName(f"{title.lower()}Menu")
    for action in extra_view:
        menus["View"].addAction(action)
    for spec in ACTIONS:
        if spec.separator_before:
            menus[spec.menu].addSeparator()
        menus[spec.menu].addAction(actions[spec.id])
    window.menus = menus
    return actions
