"""Model files: one folder per model with `model.safetensors` and `model_card.json`.

The card records name, version, architecture, calibration and the SHA-256 of the weights;
loading refuses weights whose hash does not match the card, so a report's model hash always
names the weights that produced it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from forensics_app.core.errors import ModelError
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model_card.json"
CARD_MARKDOWN = "MODEL_CARD.md"  # the card for people, written from it by train.publish
DEFAULT_MODEL = "sbi-dfdc-effnetlite0-vit"
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


def write_card(folder: Path, card: ModelCard) -> None:
    """Write `card` as the folder's model_card.json (the form read_card reads back exactly)."""
    (Path(folder) / CARD_FILE).write_text(json.dumps(asdict(card), indent=2) + "\n",
                                          encoding="utf-8")


def read_card(folder: Path) -> ModelCard:
    """The folder's card, validated (types, ranges, finite numbers, the weights' SHA-256):
    a card that would give verdicts it cannot back is a ModelError naming file and field."""
    path = folder / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModelError("model card missing", path) from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"model card unreadable ({err})", path) from err
    problem = card_problem(data)
    if problem is not None:
        raise ModelError(f"invalid model card: {problem}", path)
    return ModelCard(**data)


FUSIONS = ("spatial", "temporal", "mean")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def card_problem(data: Any) -> str | None:
    """The first thing wrong with a parsed model card (field: why), None when it is valid."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    known = {f.name: f for f in fields(ModelCard)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        return f"{unknown[0]}: unknown field"
    hints = get_type_hints(ModelCard)
    for name, f in known.items():
        if name not in data:
            if (f.default is MISSING and f.default_factory is MISSING) or name == "sha256":
                return f"{name}: missing"
            continue
        problem = _type_problem(data[name], hints[name])
        if problem:
            return f"{name}: {problem}"
    return _value_problem(data)


def _type_problem(value: Any, hint: Any) -> str | None:
    expected = get_origin(hint) or hint
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__}"
        return None if math.isfinite(value) else f"not a finite number ({value})"
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "expected a list of strings"
        return None
    if expected is Any or isinstance(value, expected):
        return None
    return f"expected {expected.__name__}, got {type(value).__name__}"


def _value_problem(data: dict[str, Any]) -> str | None:
    for name in ("name", "version"):
        if not data[name].strip():
            return f"{name}: empty"
    if not _HEX64.fullmatch(data["sha256"]):
        return "sha256: required, the weights' SHA-256 as 64 lowercase hexadecimal digits"
    if "threshold" in data and not 0 < data["threshold"] < 1:
        return f"threshold: must lie strictly between 0 and 1, not {data['threshold']}"
    for name in ("temperature_spatial", "temperature_temporal"):
        if name in data and not data[name] > 0:
            return f"{name}: must be greater than 0, not {data[name]}"
    if data.get("fusion", "mean") not in FUSIONS:
        return f"fusion: must be one of {', '.join(FUSIONS)}, not {data['fusion']!r}"
    for name, config in (("spatial", SpatialConfig), ("temporal", TemporalConfig)):
        problem = _config_problem(data[name], config)
        if problem:
            return f"{name}.{problem}"
    return None


def _config_problem(values: dict[str, Any], config: type) -> str | None:
    """An architecture dict against its config dataclass: known keys, booleans, positive
    integers, finite non-negative numbers (dropout below 1)."""
    known = {f.name for f in fields(config)}
    for key, value in values.items():
        if key not in known:
            return f"{key}: unknown field"
        default = getattr(config(), key)
        numbers = value if isinstance(default, tuple) else [value]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                return f"{key}: expected true or false, got {value!r}"
            continue
        if isinstance(default, str):
            if not isinstance(value, str):
                return f"{key}: expected str"
            continue
        if isinstance(default, tuple) and (not isinstance(value, list)
                                           or len(value) != len(default)):
            return f"{key}: expected {len(default)} numbers"
        for number in numbers:
            if isinstance(number, bool) or not isinstance(number, int | float) \
                    or not math.isfinite(number):
                return f"{key}: expected a finite number, got {number!r}"
            if isinstance(default, int) and (not isinstance(number, int) or number < 1):
                return f"{key}: expected a positive integer, got {number!r}"
            if number < 0 or (key == "dropout" and number >= 1):
                return f"{key}: out of range ({number})"
    return None


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
    if actual != card.sha256:  # read_card requires the hash: the check cannot be skipped
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
    write_card(out, card)
    return out
