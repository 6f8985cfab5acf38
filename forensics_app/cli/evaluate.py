"""`forensics-app evaluate --labels CSV --model DIR --out DIR`: metrics on labelled media."""

from __future__ import annotations

import argparse
from pathlib import Path

from forensics_app.core.errors import ForensicsError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="score labelled media and write metrics and plots",
        description="Score every file of a labels CSV (path,label[,kind]; label real or fake, "
        "paths relative to the CSV) with a model; write metrics.json (frame- and video-level "
        "AUC, accuracy, precision, recall, F1, EER, confusion matrix) and ROC, "
        "confusion-matrix and training-curve PNGs to --out.")
    p.add_argument("--labels", type=Path, default=None, help="labels CSV")
    p.add_argument("--heldout", type=Path, default=None, metavar="DATA_ROOT",
                   help="also (or only) measure the model on what its card's split held out: "
                   "people's self-blends (clean and H.264 CRF 35 at 0.5×), DFDC source "
                   "videos, calibration, splices of the held-out clips (DATA_ROOT holds faces/ "
                   "and videos/real)")
    p.add_argument("--cache", type=Path, default=None,
                   help="face cache for --heldout (default OUT/cache)")
    p.add_argument("--model", default=None, help="model or run folder, or name (default model)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--root", type=Path, default=None,
                   help="folder the CSV's paths are relative to (default: the CSV's folder)")
    p.add_argument("--frames", type=int, default=100, help="frames sampled per video (100)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--kinds", default=None,
                   help="comma-separated kinds to keep (e.g. video,face); default all")
    p.add_argument("--exclude-training", action="store_true",
                   help="skip files whose name is among the model card's training clips")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from forensics_app.core.devices import resolve_device
    from forensics_app.core.models.registry import load_model
    from forensics_app.core.train.evaluate import evaluate, read_labels

    if args.labels is None and args.heldout is None:
        raise UsageError("give --labels CSV, --heldout DATA_ROOT or both")
    if args.heldout is not None and not (args.heldout / "videos" / "real").is_dir():
        raise UsageError("--heldout: no videos/real folder in it", args.heldout)
    if args.labels is None:
        return _run_heldout(args)
    if not args.labels.is_file():
        raise ForensicsError("labels CSV not found", args.labels)
    try:
        items = read_labels(args.labels, args.root)
    except (KeyError, ValueError) as err:
        raise ForensicsError(f"bad labels CSV ({err})", args.labels) from err
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_model(args.model, resolve_device(args.device))
    if args.kinds:
        keep = {k.strip() for k in args.kinds.split(",")}
        items = [i for i in items if i.kind in keep]
    if args.exclude_training:
        trained = set(model.card.training.get("train_clips", []))
        items = [i for i in items if i.path.stem not in trained]
    missing = [i.path for i in items if not i.path.exists()]
    if missing:
        raise ForensicsError(f"{len(missing)} listed file(s) missing, first", missing[0])
    if not items:
        raise ForensicsError("nothing to evaluate after filtering", args.labels)
    metrics = evaluate(items, model, args.out, args.frames,
                       log=lambda line: print(line, flush=True))
    for level in ("frame", "video"):
        m = metrics[level]
        if m["count"]:
            auc = "n/a" if m["auc"] != m["auc"] else f"{m['auc']:.3f}"
            print(f"{level:>5}: n={m['count']} AUC {auc} accuracy {m['accuracy']:.3f} "
                  f"F1 {m['f1']:.3f} EER {m['eer']:.3f}")
    print(f"model: {model.card.name} {model.card.version}")
    print(f"output: {args.out}")
    return _run_heldout(args, model) if args.heldout is not None else 0


def _run_heldout(args: argparse.Namespace, model=None) -> int:
    from forensics_app.core.devices import resolve_device
    from forensics_app.core.models.registry import load_model
    from forensics_app.core.train.heldout import evaluate_heldout

    model = model or load_model(args.model, resolve_device(args.device))
    root = args.heldout
    evaluate_heldout(model, root, root / "videos" / "real", args.out / "heldout",
                     args.cache or args.out / "cache", log=lambda line: print(line, flush=True))
    print(f"held-out figures: {args.out / 'heldout' / 'heldout.json'}")
    return 0
