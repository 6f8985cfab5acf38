"""`forensics-app train --real DIR --out RUN`: train a self-blended-image detector."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from forensics_app.core.errors import ForensicsError


def register(sub: argparse._SubParsersAction) -> None:
    from forensics_app.core.train.trainer import DEFAULT_VAL_CLIPS, TrainConfig

    d = TrainConfig(real="", out="")
    p = sub.add_parser(
        "train", help="train a detector on real videos (self-blended fakes)",
        description="Train the spatial model on self-blended fakes made from the real clips "
        "in --real, then the temporal model on its per-frame embeddings; calibrate on the "
        "held-out identities and write a loadable model folder to --out.")
    p.add_argument("--real", type=Path, required=True, help="folder of real videos")
    p.add_argument("--out", type=Path, required=True, help="run folder (model, logs, curves)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"spatial epochs ({d.epochs})")
    p.add_argument("--temporal-epochs", type=int, default=d.temporal_epochs)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (cpu)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--input-size", type=int, default=d.input_size,
                   help=f"face crop size, a multiple of 32 ({d.input_size})")
    p.add_argument("--frames-per-clip", type=int, default=d.frames_per_clip,
                   help="frames sampled per clip for the face cache")
    p.add_argument("--batch-pairs", type=int, default=d.batch_pairs,
                   help="real/fake pairs per batch")
    p.add_argument("--freeze-blocks", type=int, default=d.freeze_blocks,
                   help="backbone stages kept at ImageNet weights")
    p.add_argument("--val-clips", default=",".join(DEFAULT_VAL_CLIPS),
                   help="comma-separated clip names (file stems) held out for validation")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop the spatial stage before an epoch would overrun this")
    p.add_argument("--cache", type=Path, default=None, help="face cache (default OUT/../cache)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-imagenet", action="store_true", help="random backbone initialisation")
    p.add_argument("--quality-augment", action="store_true",
                   help="add label-agnostic quality augmentation (JPEG 30-95, downscale, blur, "
                   "exposure, noise); off by default: it did not pass the selection rule "
                   "(see the model card), and without it the default model's recipe reproduces")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--name", default=d.name)
    p.add_argument("--version", dest="model_version", default=d.version)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from forensics_app.core.devices import resolve_device
    from forensics_app.core.train.trainer import TrainConfig, run_training

    if args.input_size % 32:
        raise ForensicsError(f"--input-size must be a multiple of 32, not {args.input_size}")
    if not args.real.is_dir():
        raise ForensicsError(f"--real {args.real}: not a folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    config = TrainConfig(
        real=str(args.real), out=str(args.out), epochs=args.epochs,
        temporal_epochs=args.temporal_epochs, device=device, seed=args.seed,
        input_size=args.input_size, frames_per_clip=args.frames_per_clip,
        batch_pairs=args.batch_pairs, freeze_blocks=args.freeze_blocks,
        val_clips=[v for v in args.val_clips.split(",") if v],
        max_minutes=args.max_minutes, imagenet_init=not args.no_imagenet,
        cache_dir=str(args.cache) if args.cache else None, name=args.name,
        version=args.model_version, quality_augment=args.quality_augment,
        command="forensics-app " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    try:
        run_training(config, resume=args.resume, printer=lambda line: print(line, flush=True))
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise ForensicsError(str(err)) from err
    return 0
