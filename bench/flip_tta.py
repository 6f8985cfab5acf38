"""Would test-time flipping help the spatial model? Held-out frame AUC of a model's scores,
of the scores of the mirrored faces, and of the mean of the two logits, on the held-out sets
of `evaluate --heldout` (self-blends of held-out people, the same after H.264 CRF 35 at 0.5x,
DFDC crops of held-out source videos). Not used by the engine: a measurement for deciding.

    python bench/flip_tta.py [--model M] [--data ../shared/data] [--cache runs/cache]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.models.registry import load_model  # noqa: E402
from forensics_app.core.train.heldout import DEGRADED, face_sets, spatial_p  # noqa: E402
from forensics_app.core.train.metrics import binary_metrics  # noqa: E402


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="sbi-dfdc-effnetlite0-vit")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache")
    args = parser.parse_args()
    model = load_model(args.model, "cpu")
    sets = face_sets(model, args.data, args.cache, lambda _line: None)
    blends = sets["faces_sbi"]
    print(f"model {model.card.name} {model.card.version}\n\n| held-out set | plain | mirrored "
          "| mean of the logits |\n|---|---|---|---|")
    for name, val in (("self-blends", blends), ("self-blends, CRF 35 at 0.5x",
                                                blends.degraded(DEGRADED, "degraded")),
                      ("DFDC", sets["dfdc"])):
        plain = spatial_p(model, val.images)
        mirrored = spatial_p(model, np.ascontiguousarray(val.images[:, :, ::-1]))
        mean = 1 / (1 + np.exp(-(logit(plain) + logit(mirrored)) / 2))
        aucs = [binary_metrics(val.labels, p)["auc"] for p in (plain, mirrored, mean)]
        print(f"| {name} | " + " | ".join(f"{a:.4f}" for a in aucs) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
