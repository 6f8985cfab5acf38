"""Paired spatial runs compared epoch by epoch: what one training setting changes.

Each RUN is a `forensics-app train` folder (its `history.json` and `train_config.json`); the
runs should differ in one setting only (same base, `--epochs`, learning rates and seed, so
that their epochs draw the same images under the same schedule). Prints, for every epoch all
runs reached, each run's validation AUCs (held-out self-blends, DFDC, clip self-blends,
degraded self-blends), their mean, training rate and epoch time, and each run's difference
from the first; `--out` writes the same as JSON, and `--card-out` its summary (each arm's
difference from the first at the last shared epoch, and its training rate) for `publish
--metrics NAME=SUMMARY.json`.

    python bench/spatial_arms.py RUN_A RUN_B [...] [--out arms.json] [--card-out summary.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SETS = ("faces_sbi", "dfdc", "clips_sbi", "faces_sbi_degraded")
# The settings that may tell two arms apart (the rest must match for a paired comparison).
SETTINGS = ("freeze_blocks", "sbi_share", "quality_probs", "lr", "backbone_lr", "epochs",
            "spatial_from", "seed", "bf16", "input_size")


def arm(run: Path) -> dict:
    """One run's settings and per-epoch validation AUCs, rate and time."""
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    config = json.loads((run / "train_config.json").read_text(encoding="utf-8"))
    epochs = []
    for entry in history.get("spatial", []):
        aucs = {name: round(float(entry["val"][name]["auc"]), 4) for name in SETS
                if name in entry["val"]}
        epochs.append({"epoch": int(entry["epoch"]), "auc": aucs,
                       "mean_auc": round(sum(aucs.values()) / max(1, len(aucs)), 4),
                       "train_img_per_s": round(float(entry["train_img_per_s"]), 1),
                       "seconds": round(float(entry["seconds"]))})
    return {"run": run.name, "settings": {k: config.get(k) for k in SETTINGS},
            "epochs": epochs}


def compare(runs: list[Path]) -> dict:
    """Every run's arm, the settings in which they differ, and each arm's per-epoch
    difference from the first over the epochs all of them reached."""
    arms = [arm(run) for run in runs]
    differ = sorted(k for k in SETTINGS if len({json.dumps(a["settings"][k]) for a in arms}) > 1)
    shared = min(len(a["epochs"]) for a in arms)
    base = arms[0]["epochs"]
    for a in arms[1:]:
        a["difference_from_first"] = [
            {"epoch": e["epoch"],
             **{name: round(e["auc"][name] - b["auc"][name], 4) for name in e["auc"]
                if name in b["auc"]},
             "mean_auc": round(e["mean_auc"] - b["mean_auc"], 4)}
            for e, b in zip(a["epochs"][:shared], base[:shared], strict=True)]
    return {"sets": list(SETS), "settings_that_differ": differ, "epochs_compared": shared,
            "arms": arms}


def summary(result: dict) -> dict:
    """What a model card carries: per arm after the first, its differing settings, and its
    validation AUCs minus the first arm's at the last epoch both reached."""
    first = result["arms"][0]
    last = result["epochs_compared"] - 1
    out = {"baseline": {"run": first["run"], **{k: first["settings"][k] for k in
                                                result["settings_that_differ"]}},
           "epochs_compared": result["epochs_compared"]}
    for a in result["arms"][1:]:
        rates = (first["epochs"][last]["train_img_per_s"], a["epochs"][last]["train_img_per_s"])
        out[a["run"]] = {**{k: a["settings"][k] for k in result["settings_that_differ"]},
                         "auc_minus_baseline": {k: v for k, v in
                                                a["difference_from_first"][last].items()
                                                if k != "epoch"},
                         "img_per_s_vs_baseline": list(rates)}
    return out


def table(result: dict) -> str:
    lines = [f"settings that differ: {', '.join(result['settings_that_differ']) or 'none'}",
             "| run | " + " | ".join(result["settings_that_differ"]) + " | epoch | "
             + " | ".join(SETS) + " | mean | img/s | s |",
             "|---" * (len(result["settings_that_differ"]) + len(SETS) + 5) + "|"]
    for a in result["arms"]:
        values = [json.dumps(a["settings"][k]) for k in result["settings_that_differ"]]
        for e in a["epochs"][:result["epochs_compared"]]:
            aucs = [f"{e['auc'].get(name, float('nan')):.3f}" for name in SETS]
            lines.append(f"| {a['run']} | " + " | ".join(values) + f" | {e['epoch']} | "
                         + " | ".join(aucs) + f" | {e['mean_auc']:.3f} | "
                         f"{e['train_img_per_s']} | {e['seconds']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--card-out", type=Path, help="the summary, for publish --metrics")
    args = parser.parse_args()
    for run in args.runs:
        if not (run / "history.json").is_file():
            parser.error(f"no history.json in {run}: not a training run folder")
    result = compare(args.runs)
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.card_out:
        args.card_out.write_text(json.dumps(summary(result), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
