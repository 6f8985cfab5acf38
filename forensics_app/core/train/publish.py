"""Copy a training run's model into a models/ folder with its card completed.

The weights are copied byte for byte (so the SHA-256 recorded at training time still holds);
the card gains the plain-language limitations and any held-out test figures.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from forensics_app.core.models.registry import CARD_FILE, WEIGHTS_FILE, read_card, sha256_file

LIMITATIONS = [
    "It was trained on about a thousand face crops from nine short real clips of about nine "
    "people; it has never seen a real deepfake, only self-blended fakes made from those clips.",
    "Its probabilities are calibrated on self-blended fakes of four held-out clips, not on "
    "real deepfakes: on real-world material p_fake is a score, not a measured frequency.",
    "It looks at faces at 160 × 160 pixels; small, blurred, heavily compressed, profile or "
    "partly hidden faces give unreliable scores.",
    "Face swaps blended very smoothly, fully synthetic faces (GAN or diffusion), lip-sync and "
    "whole-frame generation may leave none of the traces it learned and go undetected.",
    "Real footage with strong make-up, beauty filters, unusual lighting or re-encoding can "
    "look blended to it and be flagged as fake.",
    "A verdict from this model is a lead for a human examiner, not proof: attention and "
    "relevancy maps show where the model looked, not that a region was manipulated.",
]


def publish(run: Path, dest: Path, extra_metrics: dict | None = None,
            limitations: list[str] | None = None, extra_training: dict | None = None) -> Path:
    run, dest = Path(run), Path(dest)
    card = read_card(run)
    weights = run / WEIGHTS_FILE
    if card.sha256 != sha256_file(weights):
        raise ValueError(f"{weights} does not match its card's SHA-256")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / WEIGHTS_FILE)
    card.limitations = list(limitations or LIMITATIONS)
    card.metrics = {**card.metrics, **(extra_metrics or {})}
    card.training = {**card.training, **(extra_training or {})}
    (dest / CARD_FILE).write_text(json.dumps(asdict(card), indent=2) + "\n", encoding="utf-8")
    assert sha256_file(dest / WEIGHTS_FILE) == card.sha256
    return dest
