"""Errors that reach the user as one line: what went wrong and with which file.

Every failure the user can cause (bad evidence, bad weights, unwritable output) is raised as a
`ForensicsError` subclass; the CLI prints `str(err)` and exits with `err.exit_code`, the GUI
shows it in a dialog. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class ForensicsError(Exception):
    """A user-facing failure with a one-line message."""

    exit_code = 1

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = " ".join(message.split())  # one line, whatever the cause said
        super().__init__(f"{text}: {self.path}" if self.path else text)


class EvidenceError(ForensicsError):
    """The evidence file cannot be read as a video or image."""

    exit_code = 2


class ModelError(ForensicsError):
    """Weights missing, corrupt or not matching their recorded hash."""

    exit_code = 3


class OutputError(ForensicsError):
    """The output folder cannot be written (or would be beside the evidence)."""

    exit_code = 4


class ResultsExistError(ForensicsError):
    """The output folder already holds results (or anything else), or another analysis is
    writing there: results are never overwritten or mixed."""

    exit_code = 5


class ResultsError(ForensicsError):
    """A results folder fails verification: not sealed, a file changed, missing or added, or
    its contents contradict each other. It is refused, never shown as genuine."""

    exit_code = 6


class UsageError(ForensicsError):
    """A command-line option is wrong (checked before any work starts)."""

    exit_code = 64  # EX_USAGE (sysexits.h), distinct from bad evidence (2)


class CancelledError(ForensicsError):
    """The user cancelled a running job."""

    exit_code = 130
