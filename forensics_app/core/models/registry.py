"""Model files: one folder per model with `model.safetensors` and `model_card.json`.

The card records name, version, architecture, calibration and the SHA-256 of the weights;
loading refuses weights whose hash does not match the card, so a report's model hash always
names the weights that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from forensics_app.core.errors import ModelError
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model_card.json"
DEFAULT_MODEL = "sbi-effnetlite0-vit"
REPO_MODELS_DIR = Path(__file__).resolve().parents[3] / "models"


@dataclass
class ModelCard:
    name: str
    version: str
    spatial: dict[str, Any]
    temporal: dict[str, Any]
    sha256: str = ""
    placeholder: bool = False  # True: untrained weights; its verdicts mean nothing
    threshold: float = 0.5  # on the calibrated p_fake
    temperature_spatial: float = 1.0
    temperature_temporal: float = 1.0
    fusion: str = "mean"  # identity score: "spatial", "temporal" or "mean" of the two
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    limitations: list[str] = field(default_factory=list)
    # Per indicator, its trigger rate on real and fake validation clips: {name: {"real": share,
    # "fake": share, "n_real": clips, "n_fake": clips}}, written by bench/indicator_rates.py.
    indicator_rates: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What results files record about the model."""
        return {
            "name": self.name, "version": self.version, "sha256": self.sha256,
            "placeholder": self.placeholder, "threshold": self.threshold,
            "temperature_spatial": self.temperature_spatial,
            "temperature_temporal": self.temperature_temporal, "fusion": self.fusion,
            "input_size": self.spatial.get("input_size"), "description": self.description,
            "training_data": self.training.get("data", ""), "metrics": self.metrics,
            "limitations": self.limitations,
        }


@dataclass
class DetectorModel:
    """The spatial and temporal models with their card, on one device, in eval mode."""

    spatial: SpatialModel
    temporal: TemporalModel
    card: ModelCard
    folder: Path | None
    device: torch.device

    def p_fake_spatial(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits / self.card.temperature_spatial)

    def p_fake_temporal(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits / self.card.temperature_temporal)

    @property
    def input_size(self) -> int:
        return self.spatial.config.input_size


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def models_dir() -> Path:
    """Where installed models live: $FORENSICS_MODELS_DIR, else the repository's models/."""
    return Path(os.environ.get("FORENSICS_MODELS_DIR", REPO_MODELS_DIR))


def list_models(folder: Path | None = None) -> list[ModelCard]:
    root = folder or models_dir()
    cards = []
    for card_path in sorted(root.glob(f"*/{CARD_FILE}")):
        try:
            cards.append(read_card(card_path.parent))
        except ModelError:
            continue
    return cards


def resolve_model_folder(name_or_path: str | Path | None) -> Path:
    """A model folder from a path, a name under models_dir(), or None for the default."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    candidate = Path(name_or_path)
    if (candidate / CARD_FILE).exists():
        return candidate
    named = models_dir() / str(name_or_path)
    if (named / CARD_FILE).exists():
        return named
    raise ModelError("no model (model_card.json) found", candidate)


def read_card(folder: Path) -> ModelCard:
    path = folder / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ModelCard(**data)
    except FileNotFoundError as err:
        raise ModelError("model card missing", path) from err
    except (json.JSONDecodeError, TypeError) as err:
        raise ModelError(f"model card unreadable ({err})", path) from err


def build_models(card: ModelCard) -> tuple[SpatialModel, TemporalModel]:
    return (SpatialModel(SpatialConfig.from_dict(card.spatial)),
            TemporalModel(TemporalConfig.from_dict(card.temporal)))


def load_model(name_or_path: str | Path | None = None,
               device: torch.device | str = "cpu") -> DetectorModel:
    """Load a model folder, verifying the weights' SHA-256 against the card."""
    folder = resolve_model_folder(name_or_path)
    card = read_card(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.exists():
        raise ModelError("weights file missing", weights)
    actual = sha256_file(weights)
    if card.sha256 and actual != card.sha256:
        raise ModelError(
            f"weights SHA-256 {actual[:12]}… does not match the model card's {card.sha256[:12]}…",
            weights)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"corrupt weights ({err})", weights) from err
    card.sha256 = actual
    return assemble_model(card, state, folder, device, source=weights)


def assemble_model(card: ModelCard, state: dict[str, torch.Tensor], folder: Path | None,
                   device: torch.device | str = "cpu", source: Path | None = None
                   ) -> DetectorModel:
    spatial, temporal = build_models(card)
    try:
        spatial.load_state_dict(_sub_state(state, "spatial."))
        temporal.load_state_dict(_sub_state(state, "temporal."))
    except RuntimeError as err:
        first_line = str(err).splitlines()[0]
        raise ModelError(f"weights do not fit the card's architecture ({first_line})",
                         source or folder) from err
    device = torch.device(device)
    return DetectorModel(spatial.to(device).eval(), temporal.to(device).eval(), card, folder,
                         device)


def _sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}


def save_model(spatial: SpatialModel, temporal: TemporalModel, card: ModelCard,
               folder: str | Path, half: bool = True) -> Path:
    """Write weights (fp16 by default: half the size, no measurable change in scores) + card."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for prefix, module in (("spatial.", spatial), ("temporal.", temporal)):
        for key, value in module.state_dict().items():
            value = value.detach().cpu().contiguous()
            state[prefix + key] = value.half() if half and value.is_floating_point() else value
    weights = out / WEIGHTS_FILE
    save_file(state, str(weights))
    card.spatial = spatial.config.to_dict()
    card.temporal = temporal.config.to_dict()
    card.sha256 = sha256_file(weights)
    (out / CARD_FILE).write_text(json.dumps(asdict(card), indent=2) + "\n", encoding="utf-8")
    return out
