"""Held-out splice figures of every temporal training of a `train --temporal-restarts N` run.

The run keeps one training, chosen on the validation windows by the keep rule; this puts each
training's kept epoch (its checkpoint's `best_state`) into the run's model in turn and measures
the held-out splices as `evaluate --heldout` does, beside the validation figures the rule saw,
so one can see whether the rule picked the training that is also best held out.

    python bench/temporal_restarts.py RUN [--real ../shared/data/videos/real] [--cache DIR]
        [--out restarts.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.models.registry import load_model  # noqa: E402
from forensics_app.core.train.data import extract_clip, list_videos  # noqa: E402
from forensics_app.core.train.heldout import _split_settings, splice_metrics  # noqa: E402
from forensics_app.core.train.temporal_stage import temporal_checkpoint_path  # noqa: E402

VALIDATION = ("val_localisation_auc", "val_marker_near_boundary", "val_real_windows_marked")
HELD_OUT = ("relevancy_localisation_auc_mean", "marker_near_boundary_share",
            "real_windows_with_a_marker_share", "attention_on_faked_frames_ratio")


def checkpoints(run: Path) -> list[Path]:
    """The run's temporal checkpoints in restart order (`temporal_checkpoint_path` names them)."""
    restarts = sorted(int(p.stem.rsplit("_r", 1)[1])
                      for p in run.glob("temporal_checkpoint_r*.pt"))
    return [temporal_checkpoint_path(run, r) for r in (0, *restarts)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared/data/videos/real")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs/cache")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not temporal_checkpoint_path(args.run).is_file():
        parser.error(f"no temporal_checkpoint.pt in {args.run}: not a training run folder")
    model = load_model(args.run)
    settings = _split_settings(model)
    videos = {v.stem: v for v in list_videos(args.real)}
    clips = [extract_clip(videos[name], args.cache, settings["frames_per_clip"],
                          settings["cache_size"], settings["margin"], log=lambda _line: None)
             for name in settings["val_clips"] if name in videos]
    history = json.loads((args.run / "history.json").read_text(encoding="utf-8"))["temporal"]
    rows = []
    for restart, path in enumerate(checkpoints(args.run)):
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        model.temporal.load_state_dict(ckpt["best_state"])
        model.temporal.eval()
        held = splice_metrics(model, clips, settings["seed"] + 103)
        entry = next(e for e in history if e.get("restart", 0) == restart
                     and e["epoch"] == ckpt["best_epoch"])
        rows.append({"restart": restart, "epoch": ckpt["best_epoch"], "kept": entry["kept"],
                     "validation": {k: round(entry[k], 4) for k in VALIDATION},
                     "held_out": {k: round(held[k], 4) for k in HELD_OUT}})
        print(json.dumps(rows[-1]))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
