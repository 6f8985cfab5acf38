"""The `forensics-app` command line: one module per subcommand, each with `register()`.

Without a subcommand the desktop application starts.

Only the chosen subcommand's module is imported (torch, mediapipe and PyAV load after the
arguments are parsed, when the work needs them), so `--help` and usage errors answer at once.
Exit codes: see `forensics_app.core.errors` (64 for a usage error, as in sysexits.h).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.errors import ForensicsError, UsageError

# Subcommand modules under forensics_app.cli (each defines register(subparsers)), with the
# one-line help the top-level --help lists without importing them.
SUBCOMMANDS = {
    "analyze": "analyse a video file and write a results folder",
    "batch": "analyse every video of a case or folder, resumably",
    "report": "write the PDF evidence report of an analysis",
    "train": "train a detector (self-blended fakes, DFDC pairs, temporal fakes)",
    "evaluate": "score labelled media and write metrics and plots",
    "models": "list installed models",
    "gui": "start the desktop workstation (the default)",
}
# mediapipe's C++ (glog/absl) and TensorFlow Lite log to stderr on first use: keep those
# lines out of the progress output (errors still show).
QUIET_NATIVE_LOGS = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}


class Parser(argparse.ArgumentParser):
    """argparse with the usage exit code of its own (64), never 2 (bad evidence)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{TOOL_NAME}: error: {' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(UsageError.exit_code)


def _available(name: str) -> bool:
    return importlib.util.find_spec(f"forensics_app.cli.{name}") is not None


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in `argv` is imported and registered in full
    (all of them when `argv` is None)."""
    parser = Parser(
        prog=TOOL_NAME,
        description="Offline deepfake forensics: analyse video evidence, explain the verdict.")
    parser.add_argument("--version", action="version", version=f"{TOOL_NAME} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = None if argv is None else chosen_command(argv)
    for name, summary in SUBCOMMANDS.items():
        if not _available(name):
            continue  # subcommand not built in this checkout
        if argv is None or name == chosen:
            importlib.import_module(f"forensics_app.cli.{name}").register(sub)
        else:  # listed in --help; never parsed (it is not the chosen one)
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    process = argv is None  # the real command, not a call from Python code (tests)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        for key, value in QUIET_NATIVE_LOGS.items():
            os.environ.setdefault(key, value)
        if chosen_command(argv) not in SUBCOMMANDS and not {"-h", "--help", "--version"} & set(
                argv):
            argv = ["gui", *argv]  # the default command
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as done:  # --help, --version, or a usage error (64)
            return done.code if isinstance(done.code, int) else 0
        return int(args.run(args) or 0)
    except ForensicsError as err:
        print(f"{TOOL_NAME}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        if process:  # a second Ctrl-C during the clean-up must not print a traceback
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"{TOOL_NAME}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
