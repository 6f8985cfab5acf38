"""How does the temporal stage's relevancy localisation move from epoch to epoch?

Trains a temporal model in-process on the sequences a run saved (RUN/temporal_sequences.pt,
the same loop, optimiser, schedule and shuffling as `train_temporal`, so seed 0 on a run's
own sequences reproduces its validation losses) and after each epoch measures:

* val_loc: relevancy localisation AUC on the run's validation sequences of kind "splice"
  (a validation signal: what a selection rule may use);
* held_loc, near, real_marked: the held-out splice figures of `evaluate --heldout`
  (heldout.splice_metrics' windows, embedded once by MODEL's spatial model and cached);
* with --average-from F, the same for the running mean of the weights after epoch F.

    python bench/temporal_epochs.py MODEL RUN/temporal_sequences.pt --out curves.json
        [--seed 0] [--epochs 40] [--every 1] [--average-from 0] [--cache runs/cache]
        [--distance-bias] [--marker W]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.analysis.metrics import temporal_metrics  # noqa: E402
from forensics_app.core.explain.attention import (  # noqa: E402
    frame_attention,
    normalised_entropy,
)
from forensics_app.core.explain.spatial import score_faces  # noqa: E402
from forensics_app.core.explain.temporal import explain_clip  # noqa: E402
from forensics_app.core.models.registry import load_model  # noqa: E402
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel  # noqa: E402
from forensics_app.core.train.data import extract_clip, list_videos, to_input  # noqa: E402
from forensics_app.core.train.heldout import _split_settings, splice_windows  # noqa: E402
from forensics_app.core.train.loop import (  # noqa: E402
    cosine_schedule,
    optimisation_step,
    seed_everything,
)
from forensics_app.core.train.metrics import binary_metrics  # noqa: E402
from forensics_app.core.train.temporal_stage import (  # noqa: E402
    _pad,
    marker_loss,
    predict_temporal,
    validation_localisation,
)

REAL = ROOT.parent / "shared" / "data" / "videos" / "real"


def heldout_windows(model_ref: str, cache: Path, saved: Path) -> list[dict]:
    """The held-out splice windows (real and spliced embeddings, mask), made once."""
    if saved.exists():
        return torch.load(saved, weights_only=False)
    model = load_model(model_ref, "cpu")
    s = _split_settings(model)
    videos = {v.stem: v for v in list_videos(REAL)}

    def embed(images: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        return score_faces(model, tensor, explain=False).embeddings.detach().float().cpu()

    out = []
    for name in s["val_clips"]:
        clip = extract_clip(videos[name], cache, s["frames_per_clip"], s["cache_size"],
                            s["margin"])
        clean = embed(np.stack([to_input(x, model.input_size) for x in clip.crops]))
        for track in sorted(set(clip.tracks.tolist())):
            if len(clip.rows_of(track)) < 16:
                continue
            for win, faces, mask in splice_windows(clip, track, 6, s["seed"] + 103,
                                                   model.input_size):
                spliced = clean[win].clone()
                spliced[torch.from_numpy(mask)] = embed(faces[mask])
                out.append({"real": clean[win].clone(), "spliced": spliced, "mask": mask})
    torch.save(out, saved)
    return out


def explain(model: TemporalModel, emb: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    _, attentions, relevancy = explain_clip(model, emb)
    return relevancy, frame_attention([a[0] for a in attentions])


def measure(model: TemporalModel, val, held: list[dict]) -> dict:
    model.eval()
    val_loc = validation_localisation(model, val)
    loc, near, real_marked, entropy, on_fake = [], [], [], [], []
    for w in held:
        real_views = temporal_metrics(explain(model, w["real"])[1])
        real_marked.append(len(real_views.unusual) > 0)
        entropy.append(normalised_entropy(real_views.mean_attention))
        relevancy, attention = explain(model, w["spliced"])
        views = temporal_metrics(attention)
        received = views.mean_attention.mean(axis=0)  # as evaluate --heldout: what each gets
        on_fake.append(float(received[w["mask"]].sum() / w["mask"].mean() / received.sum()))
        loc.append(binary_metrics(w["mask"].astype(int), relevancy)["auc"])
        edges = np.flatnonzero(np.diff(w["mask"].astype(int))) + 0.5
        marked = np.asarray(views.unusual, float)
        near.append(bool(len(marked))
                    and bool((np.abs(marked[:, None] - edges[None]).min(1) <= 2.5).any()))
    return {"val_loc": val_loc, "held_loc": float(np.nanmean(loc)),
            "held_loc_median": float(np.nanmedian(loc)), "near": float(np.mean(near)),
            "real_marked": float(np.mean(real_marked)),
            "real_entropy": float(np.mean(entropy)), "attention_on_fake": float(np.mean(on_fake))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("sequences", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--average-from", type=int, default=0)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--marker", type=float, default=0.0,
                   help="train --temporal-marker-weight")
    p.add_argument("--distance-bias", action="store_true",
                   help="TemporalConfig.distance_bias (train --temporal-distance-bias)")
    a = p.parse_args()
    stored = torch.load(a.sequences, weights_only=False)
    train, val = stored["train"], stored["val"]
    held = heldout_windows(a.model, a.cache, a.out.with_suffix(".heldout.pt"))
    seed_everything(a.seed + 1)
    model = TemporalModel(TemporalConfig(input_dim=train.embeddings[0].shape[1],
                                          distance_bias=a.distance_bias))
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    steps = math.ceil(len(train) / 16)
    scheduler = cosine_schedule(optimizer, min(20, steps), steps * a.epochs)
    labels, val_labels = torch.tensor(train.labels), np.asarray(val.labels)
    mean, averaged, rows = None, 0, []
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(
            a.seed * 1000 + 500 + epoch)).tolist()
        for begin in range(0, len(order), 16):
            idx = order[begin:begin + 16]
            x, mask = _pad([train.embeddings[i] for i in idx])
            out = model(x, mask)
            extra = (a.marker * marker_loss(out.attentions, mask, [train.cuts[i] for i in idx],
                                            [train.kinds[i] for i in idx])
                     if a.marker else None)
            optimisation_step(model, optimizer, scheduler, out.logit, labels[idx], extra)
        if a.average_from and epoch + 1 > a.average_from:
            state = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
            mean = state if mean is None else {
                k: mean[k] + (state[k] - mean[k]) / (averaged + 1) for k in mean}
            averaged += 1
        if (epoch + 1) % a.every and epoch + 1 != a.epochs:
            continue
        logits = predict_temporal(model, val, torch.device("cpu"))
        row = {"epoch": epoch + 1, "val_loss": float(F.binary_cross_entropy_with_logits(
            torch.from_numpy(logits), torch.from_numpy(val_labels))),
            "val_auc": binary_metrics(val_labels, logits, 0.0)["auc"],
            **measure(model, val, held)}
        if mean is not None:
            averaged_model = copy.deepcopy(model)
            averaged_model.load_state_dict(mean)
            row["average"] = measure(averaged_model, val, held)
        rows.append(row)
        print(json.dumps(row), flush=True)
    val_loc = np.array([r["val_loc"] for r in rows])
    held_loc = np.array([r["held_loc"] for r in rows])
    summary = {"epochs_measured": len(rows),
               "corr_val_held": float(np.corrcoef(val_loc, held_loc)[0, 1])
               if len(rows) > 2 else None}
    print(json.dumps(summary))
    a.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()},
                                 "rows": rows, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
