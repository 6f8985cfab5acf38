"""`forensics-app models`: list the installed models and their cards."""

from __future__ import annotations

import argparse

from forensics_app.core.models.registry import DEFAULT_MODEL, list_models, models_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list installed models")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cards = list_models()
    if not cards:
        print(f"no models installed in {models_dir()}")
        return 1
    for card in cards:
        default = " (default)" if card.name == DEFAULT_MODEL else ""
        placeholder = " [untrained placeholder]" if card.placeholder else ""
        print(f"{card.name} {card.version}{default}{placeholder}  sha256 {card.sha256[:16]}…")
        if card.description:
            print(f"    {card.description}")
    return 0
