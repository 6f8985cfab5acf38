"""The `forensics-app` command line: one module per subcommand, each with `register()`.

Without a subcommand the desktop application starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.errors import ForensicsError

# Subcommand modules under forensics_app.cli; each defines register(subparsers).
SUBCOMMANDS = ("analyze", "report", "train", "evaluate", "models", "gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=TOOL_NAME,
        description="Offline deepfake forensics: analyse video evidence, explain the verdict.")
    parser.add_argument("--version", action="version", version=f"{TOOL_NAME} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"forensics_app.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"forensics_app.cli.{name}":
                continue  # subcommand not built in this checkout
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    try:
        return int(args.run(args) or 0)
    except ForensicsError as err:
        print(f"{TOOL_NAME}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{TOOL_NAME}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
