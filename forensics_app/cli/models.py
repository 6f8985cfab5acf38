"""`forensics-app models`: list the installed models and their cards."""

from __future__ import annotations

import argparse

from forensics_app.core.models.figures import held_out_figures, unmet_targets
from forensics_app.core.models.registry import (
    CARD_MARKDOWN,
    DEFAULT_MODEL,
    list_models,
    models_dir,
)


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
        print_held_out(card)
    return 0


def print_held_out(card) -> None:
    """The card's held-out figures that answer a target, and the targets not reached: how far
    the model's verdicts carry, before anyone relies on them."""
    rows = [row for row in held_out_figures(card.metrics) if row.target]
    if not rows:
        print("    held out: no figures on its card")
        return
    print("    held out (model card):")
    for row in rows:
        print(f"      {row.measurement}: {row.figure} (target {row.target})")
    unmet = unmet_targets(card.metrics)
    print("    targets not reached: " + ("; ".join(unmet) if unmet else "none"))
    document = models_dir() / card.name / CARD_MARKDOWN
    if document.is_file():
        print(f"    card: {document}")
