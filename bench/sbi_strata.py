"""Where does the held-out self-blend AUC go? The held-out self-blends of `evaluate --heldout`
scored by a model and split by what made each blend (its blend ratio, mask region, which copy
was altered, sharpened or blurred), by how much it changed the face, and by the person's
source folder; also the same after H.264 CRF 35 at 0.5x. A measurement for deciding what to
train on, not used by the engine.

1 - AUC is the mean, over the fakes, of the share of reals scored at or above each fake (ties
count half); so each stratum's part of the shortfall is the sum of its fakes' shares over the
number of fakes, and the parts add up to 1 - AUC. The same holds over the reals (the share of
fakes each real outscores), which tells whether the shortfall lies in a few reals that look
blended or in blends that look real.

`--training-people` also scores new self-blends (same generator and seed) of as many faces of
the people the model was trained on: if those score no better than the held-out people's, the
shortfall is not over-fitting to the training people.

    python bench/sbi_strata.py [--model M] [--data ../shared/data] [--cache runs/cache]
                               [--training-people] [--out strata.json]
                               [--card-out summary.json]

`--card-out` writes the AUC by mask region (and blend ratio) for `publish --metrics
sbi_strata=summary.json`, which turns it into a limitation in the model card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.models.registry import DetectorModel, load_model  # noqa: E402
from forensics_app.core.train.finetune import sbi_val_blends, sbi_val_set  # noqa: E402
from forensics_app.core.train.heldout import (  # noqa: E402
    DEGRADED,
    face_sets,
    real_faces,
    spatial_p,
)
from forensics_app.core.train.metrics import binary_metrics  # noqa: E402
from forensics_app.core.train.sbi import blend_mask  # noqa: E402


def shortfall_shares(real_p: np.ndarray, fake_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per fake: share of reals scored at or above it, per real: share of fakes at or below
    it), ties counted half; each one's mean is 1 - AUC."""
    reals = np.sort(real_p)
    fakes = np.sort(fake_p)
    above = len(reals) - np.searchsorted(reals, fake_p, "right")
    ties = np.searchsorted(reals, fake_p, "right") - np.searchsorted(reals, fake_p, "left")
    per_fake = (above + ties / 2) / len(reals)
    below = np.searchsorted(fakes, real_p, "left")
    ties = np.searchsorted(fakes, real_p, "right") - below
    per_real = (below + ties / 2) / len(fakes)
    return per_fake, per_real


def strata_table(title: str, keys: list[str], per_fake: np.ndarray, fake_p: np.ndarray,
                 real_p: np.ndarray) -> dict:
    """Per stratum: fakes, their AUC against all reals, share called fake at 0.5, and their
    part of 1 - AUC."""
    rows = {}
    for key in sorted(set(keys), key=str):
        where = np.array([k == key for k in keys])
        p = fake_p[where]
        auc = binary_metrics(np.r_[np.zeros(len(real_p)), np.ones(len(p))],
                             np.r_[real_p, p])["auc"]
        rows[key] = {"fakes": int(where.sum()), "auc": round(auc, 4),
                     "called_fake": round(float((p >= 0.5).mean()), 3),
                     "part_of_shortfall": round(float(per_fake[where].sum() / len(per_fake)),
                                                4)}
    return {"title": title, "rows": rows}


def quartile_keys(values: np.ndarray, unit: str) -> list[str]:
    edges = np.quantile(values, [0.25, 0.5, 0.75])
    names = [f"Q{i + 1} (≤ {e:.1f} {unit})" for i, e in enumerate(edges)]
    names.append(f"Q4 (> {edges[-1]:.1f} {unit})")
    return [names[int(np.searchsorted(edges, v, "left"))] for v in values]


# What each mask region covers (sbi.REGIONS), in an examiner's words.
REGION_NAMES = {"hull": "whole face", "lower": "mouth and jaw", "inner": "eyes, nose and mouth",
                "upper": "forehead and eyes"}


def card_summary(model: DetectorModel, result: dict) -> dict:
    """The clean held-out figures by region and blend ratio, naming the model measured."""
    tables = {t["title"]: t["rows"] for t in result["tables"]}
    regions = tables["mask region"]
    return {"model": {"name": model.card.name, "version": model.card.version,
                      "sha256": model.card.sha256},
            "auc": result["auc"], "fakes": sum(r["fakes"] for r in regions.values()),
            "auc_by_region": {REGION_NAMES[key]: regions[key]["auc"] for key in REGION_NAMES
                              if key in regions},
            "auc_by_blend_ratio": {key: row["auc"] for key, row in
                                   tables["blend ratio (peak of the mask)"].items()},
            "measured_by": "bench/sbi_strata.py"}


def blend_features(sets: dict) -> dict[str, list]:
    """Each held-out self-blend's recipe and how much it changed the face."""
    faces = sets["real_faces"]
    images = sets["faces_sbi"].images
    out: dict[str, list] = {k: [] for k in ("ratio", "region", "altered", "detail", "change",
                                            "area", "source")}
    for i, (row, params) in enumerate(sbi_val_blends(faces, sets["limit"], sets["sbi_seed"])):
        mask = blend_mask(faces.landmarks[row], faces.crops[row].shape[:2], params)
        inside = mask > 0
        diff = np.abs(images[2 * i + 1].astype(np.float32) - images[2 * i].astype(np.float32))
        out["ratio"].append(f"{params.blend_ratio:.2f}")
        out["region"].append(params.region)
        out["altered"].append("target (whole crop)" if params.swap else "source (inner face)")
        out["detail"].append("sharpened" if params.sharpen > 0 else "blurred")
        out["change"].append(float(diff[inside].mean()) if inside.any() else 0.0)
        out["area"].append(float(inside.mean()))
        out["source"].append(str(faces.sources[row]))
    return out


def worst_tenth_part(shares: np.ndarray) -> float:
    """The part of 1 - AUC carried by the tenth of the items with the largest shares."""
    worst = np.sort(shares)[::-1][:max(1, len(shares) // 10)]
    return round(float(worst.sum() / len(shares)), 4)


def measure(name: str, real_p: np.ndarray, fake_p: np.ndarray, features: dict) -> dict:
    per_fake, per_real = shortfall_shares(real_p, fake_p)
    shortfall = float(per_fake.mean())
    result = {"set": name, "auc": round(1 - shortfall, 4), "shortfall": round(shortfall, 4),
              "reals_worst_tenth_part": worst_tenth_part(per_real),
              "fakes_worst_tenth_part": worst_tenth_part(per_fake)}
    strata = [
        ("blend ratio (peak of the mask)", features["ratio"]),
        ("mask region", features["region"]),
        ("copy altered", features["altered"]),
        ("detail change of the altered copy", features["detail"]),
        ("mean change inside the mask, quartiles",
         quartile_keys(np.array(features["change"]), "grey levels")),
        ("mask area, quartiles", quartile_keys(100 * np.array(features["area"]),
                                               "% of the crop")),
        ("person's source folder", features["source"]),
    ]
    result["tables"] = [strata_table(title, keys, per_fake, fake_p, real_p)
                        for title, keys in strata]
    return result


def markdown(result: dict) -> str:
    lines = [f"### {result['set']}: AUC {result['auc']:.4f} (1 - AUC = "
             f"{result['shortfall']:.4f})", "",
             f"The worst tenth of the reals carry {result['reals_worst_tenth_part']:.4f} of "
             f"it, the worst tenth of the fakes {result['fakes_worst_tenth_part']:.4f}.", ""]
    for table in result["tables"]:
        lines += [f"| {table['title']} | fakes | AUC vs all reals | called fake at 0.5 "
                  "| part of 1 - AUC |", "|---|---|---|---|---|"]
        for key, row in table["rows"].items():
            lines.append(f"| {key} | {row['fakes']} | {row['auc']:.3f} | "
                         f"{row['called_fake']:.0%} | {row['part_of_shortfall']:.4f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="sbi-dfdc-effnetlite0-vit")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache")
    parser.add_argument("--training-people", action="store_true",
                        help="also score self-blends of people the model was trained on")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--card-out", type=Path,
                        help="write the card's summary (publish --metrics sbi_strata=FILE)")
    args = parser.parse_args()
    model = load_model(args.model, "cpu")
    sets = face_sets(model, args.data, args.cache, lambda _line: None)
    blends = sets["faces_sbi"]
    features = blend_features(sets)
    results = []
    print(f"model {model.card.name} {model.card.version}\n")
    for name, val in (("held-out self-blends", blends),
                      ("the same after H.264 CRF 35 at 0.5x",
                       blends.degraded(DEGRADED, "degraded"))):
        p = spatial_p(model, val.images)
        result = measure(name, p[val.labels == 0], p[val.labels == 1], features)
        results.append(result)
        print(markdown(result), flush=True)
    if args.training_people:
        trained = sbi_val_set(real_faces(model, args.data, args.cache, lambda _line: None,
                                         held_out=False), sets["limit"], sets["sbi_seed"])
        fit = {}
        for name, val in (("clean", trained), ("crf35_half", trained.degraded(DEGRADED, "d"))):
            fit[name] = round(binary_metrics(val.labels, spatial_p(model, val.images))["auc"], 4)
        results.append({"set": "self-blends of training people", "auc": fit})
        print(f"self-blends of {len(trained.labels) // 2} faces of training people: AUC "
              f"{fit['clean']:.4f}, after CRF 35 at 0.5x {fit['crf35_half']:.4f}")
    if args.card_out:
        args.card_out.write_text(json.dumps(card_summary(model, results[0]), indent=1),
                                 encoding="utf-8")
    if args.out:
        args.out.write_text(json.dumps({"model": model.card.version, "results": results},
                                       indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
