"""`forensics-app train --real DIR --out RUN`: train a self-blended-image detector."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from forensics_app.core.errors import ForensicsError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    from forensics_app.core.train.config import (
        DEFAULT_VAL_CLIPS,
        IMAGENET_BACKBONES,
        TrainConfig,
    )
    from forensics_app.core.train.sbi import QUALITY_PROBS

    d = TrainConfig(real="", out="")
    p = sub.add_parser(
        "train", help="train a detector (self-blended fakes, DFDC pairs, temporal fakes)",
        description="Fine-tune the spatial model on self-blended fakes of real faces (the "
        "clips in --real and, with --faces, LFW and UTKFace) mixed with DFDC real/fake "
        "pairs; then the temporal model on its per-frame embeddings of the real clips against "
        "synthetic temporal fakes; calibrate on held-out people / source videos and write a "
        "loadable model folder to --out.")
    p.add_argument("--real", type=Path, required=True, help="folder of real videos")
    p.add_argument("--faces", type=Path, default=None,
                   help="data root holding faces/lfw, faces/utkface, faces/dfdc_crops "
                   "(e.g. ../shared/data); without it only the clips are used")
    p.add_argument("--out", type=Path, required=True, help="run folder (model, logs, curves)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"spatial epochs ({d.epochs})")
    p.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch,
                   help=f"optimiser steps per spatial epoch ({d.steps_per_epoch})")
    p.add_argument("--sbi-share", type=float, default=d.sbi_share,
                   help=f"share of self-blend pairs per batch, the rest DFDC ({d.sbi_share})")
    p.add_argument("--reenact-share", type=float, default=d.reenact_share,
                   help="of the fakes made from real faces, the share of reenactments of the "
                   f"lower face ({d.reenact_share})")
    p.add_argument("--warp-share", type=float, default=d.warp_share,
                   help="of the fakes made from real faces, the share of motion-warped "
                   f"portraits ({d.warp_share})")
    p.add_argument("--canvas-prob", type=float, default=d.canvas_prob,
                   help="probability that a pair is shown as another crop pipeline delivers "
                   f"faces: a tight crop on a canvas, letterbox, inset ({d.canvas_prob})")
    p.add_argument("--max-faces-per-source", type=int, default=None,
                   help="use at most this many people / source videos per face folder")
    p.add_argument("--temporal-epochs", type=int, default=d.temporal_epochs)
    p.add_argument("--temporal-attention-weight", type=float,
                   default=d.temporal_attention_weight,
                   help="weight of the temporal attention loss beside the clip label "
                   f"({d.temporal_attention_weight}; 0: the label alone)")
    p.add_argument("--temporal-marker-weight", type=float, default=d.temporal_marker_weight,
                   help="weight of a loss asking the attention range's residual (what the red "
                   "markers read) to stay flat on real training windows and to stand out where "
                   f"other footage starts ({d.temporal_marker_weight}: off)")
    p.add_argument("--temporal-sequences", type=int, default=d.temporal_sequences,
                   help="training windows per identity and temporal fake kind "
                   f"({d.temporal_sequences})")
    p.add_argument("--temporal-keep", choices=("last", "best", "localisation", "views"),
                   default=d.temporal_keep,
                   help="temporal epoch kept: the last of the schedule, the one with the "
                   "lowest validation loss, the one whose relevancy best localises the "
                   "validation splices, or the one best by localisation + splices marked "
                   f"near a boundary - real windows marked ({d.temporal_keep})")
    p.add_argument("--temporal-restarts", type=int, default=d.temporal_restarts,
                   help="independent trainings of the temporal stage; the one best on the "
                   f"validation windows by --temporal-keep is kept ({d.temporal_restarts})")
    p.add_argument("--temporal-distance-bias", action=argparse.BooleanOptionalAction,
                   default=d.temporal.get("distance_bias", False),
                   help="a fixed per-head penalty on the distance between frames in the "
                   "temporal attention (ALiBi): local, stationary attention on real footage "
                   f"({'on' if d.temporal.get('distance_bias') else 'off'})")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (cpu)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--input-size", type=int, default=None,
                   help=f"face crop size, a multiple of 32 ({d.input_size}; a continuation "
                   "keeps its base's unless given)")
    p.add_argument("--frames-per-clip", type=int, default=d.frames_per_clip,
                   help="frames sampled per clip for the face cache")
    p.add_argument("--batch-pairs", type=int, default=d.batch_pairs,
                   help="real/fake pairs per batch")
    p.add_argument("--lr", type=float, default=d.lr,
                   help=f"peak learning rate of the spatial transformer head ({d.lr:g})")
    p.add_argument("--backbone-lr", type=float, default=d.backbone_lr,
                   help=f"peak learning rate of the backbone's trained stages "
                   f"({d.backbone_lr:g}); a continuation (--spatial-from) may take less")
    p.add_argument("--freeze-blocks", type=int, default=d.freeze_blocks,
                   help="backbone stages kept at ImageNet weights")
    p.add_argument("--val-clips", default=",".join(DEFAULT_VAL_CLIPS),
                   help="comma-separated clip names (file stems) held out for validation")
    p.add_argument("--cache", type=Path, default=None, help="face cache (default OUT/../cache)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-imagenet", action="store_true", help="random backbone initialisation")
    p.add_argument("--backbone", choices=tuple(IMAGENET_BACKBONES), default=None,
                   help="the timm backbone of a new spatial model, from its ImageNet weights "
                   f"({d.spatial.get('backbone', 'tf_efficientnet_lite0')}; a continuation "
                   "keeps its base's); the model's default name follows it")
    p.add_argument("--loader-workers", type=int, default=d.loader_workers,
                   help="processes making training images")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--temporal-from", metavar="MODEL", default=None,
                   help="keep this model's spatial model and calibration (folder or name) and "
                   "train only a new temporal model on its embeddings (--faces not needed)")
    p.add_argument("--spatial-from", metavar="MODEL", default=None,
                   help="continue training this model's spatial model (folder or name) instead "
                   "of starting from ImageNet weights; its crop and its held-out split are "
                   "kept, whatever the flags say")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true",
                           help="bfloat16 autocast for the spatial forward pass (weights and "
                           "loss stay float32); the default where the device runs bfloat16 "
                           "natively (CPUs with AVX-512 BF16 or AMX: about 2x faster; CUDA "
                           "GPUs with bf16)")
    precision.add_argument("--fp32", action="store_true",
                           help="float32 throughout, even where bfloat16 would be faster")
    p.add_argument("--quality-probs", metavar="STEP=P,...", default="",
                   help="replace the quality augmentation's probabilities (steps: color, "
                   "downscale, blur, noise, jpeg, h264; defaults "
                   + ", ".join(f"{k} {v}" for k, v in QUALITY_PROBS.items()) + ")")
    p.add_argument("--name", default=None,
                   help=f"the model's name ({d.name}, or the one for --backbone)")
    p.add_argument("--version", dest="model_version", default=d.version)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from forensics_app.core.devices import fast_bfloat16, resolve_device
    from forensics_app.core.train.config import TrainConfig, default_model_name
    from forensics_app.core.train.trainer import retrain_temporal, run_training

    if args.input_size is not None and (args.input_size <= 0 or args.input_size % 32):
        raise UsageError(f"--input-size must be a positive multiple of 32, not {args.input_size}")
    if not args.real.is_dir():
        raise UsageError(f"--real {args.real}: not a folder")
    if args.faces is not None and not (args.faces / "faces").is_dir():
        raise UsageError(f"--faces {args.faces}: no faces/ folder in it")
    if args.temporal_sequences < 1:
        raise UsageError(f"--temporal-sequences must be ≥ 1, not {args.temporal_sequences}")
    if args.temporal_epochs < 1:
        raise UsageError(f"--temporal-epochs must be ≥ 1, not {args.temporal_epochs}")
    if args.temporal_restarts < 1:
        raise UsageError(f"--temporal-restarts must be ≥ 1, not {args.temporal_restarts}")
    if args.temporal_attention_weight < 0:
        raise UsageError("--temporal-attention-weight must be ≥ 0, not "
                         f"{args.temporal_attention_weight}")
    if not args.temporal_marker_weight >= 0:
        raise UsageError("--temporal-marker-weight must be ≥ 0, not "
                         f"{args.temporal_marker_weight}")
    for flag, rate in (("--lr", args.lr), ("--backbone-lr", args.backbone_lr)):
        if not rate > 0:  # also rejects nan
            raise UsageError(f"{flag} must be > 0, not {rate}")
    for flag, share in (("--sbi-share", args.sbi_share), ("--reenact-share", args.reenact_share),
                        ("--warp-share", args.warp_share), ("--canvas-prob", args.canvas_prob)):
        if not 0 <= share <= 1:
            raise UsageError(f"{flag} must lie in [0, 1], not {share}")
    if args.reenact_share + args.warp_share > 1:
        raise UsageError("--reenact-share and --warp-share add up to more than 1")
    if args.temporal_from and args.input_size is not None:
        raise UsageError("--input-size with --temporal-from: the spatial model is kept as it "
                         "is, at its own input size")
    if args.backbone and (args.temporal_from or args.spatial_from):
        raise UsageError("--backbone starts a new spatial model; a continuation keeps its "
                         "base's backbone")
    if args.temporal_from and args.spatial_from:
        raise UsageError("--temporal-from keeps a spatial model, --spatial-from trains one: "
                         "give one of them")
    probs = parse_quality_probs(args.quality_probs)
    if args.threads:
        torch.set_num_threads(args.threads)
    resolved = resolve_device(args.device)
    device = str(resolved)
    bf16 = args.bf16 or (not args.fp32 and fast_bfloat16(resolved))
    if args.bf16 and not fast_bfloat16(resolved):
        # measured on an AVX2-only CPU: 0.35 img/s in bfloat16 against ~8 in float32
        print(f"warning: --bf16 on {device}, which has no native bfloat16 (AVX-512 BF16, AMX "
              "or a bf16 GPU): it is emulated and many times slower than float32",
              file=sys.stderr, flush=True)
    config = TrainConfig(
        real=str(args.real), out=str(args.out), epochs=args.epochs,
        faces=str(args.faces) if args.faces else None, steps_per_epoch=args.steps_per_epoch,
        sbi_share=args.sbi_share, reenact_share=args.reenact_share,
        warp_share=args.warp_share, canvas_prob=args.canvas_prob,
        max_faces_per_source=args.max_faces_per_source,
        loader_workers=args.loader_workers,
        temporal_epochs=args.temporal_epochs, device=device, seed=args.seed,
        temporal_attention_weight=args.temporal_attention_weight,
        temporal_marker_weight=args.temporal_marker_weight,
        temporal_keep=args.temporal_keep, temporal_sequences=args.temporal_sequences,
        temporal_restarts=args.temporal_restarts,
        input_size=args.input_size or TrainConfig.input_size,
        continue_at_size=args.input_size if args.spatial_from else None,
        frames_per_clip=args.frames_per_clip,
        batch_pairs=args.batch_pairs, freeze_blocks=args.freeze_blocks,
        lr=args.lr, backbone_lr=args.backbone_lr,
        val_clips=[v for v in args.val_clips.split(",") if v],
        imagenet_init=not args.no_imagenet, spatial_from=args.spatial_from, bf16=bf16,
        quality_probs=probs,
        temporal={"distance_bias": args.temporal_distance_bias},
        spatial={"backbone": args.backbone} if args.backbone else {},
        cache_dir=str(args.cache) if args.cache else None,
        name=args.name or (default_model_name(args.backbone) if args.backbone
                           else TrainConfig.name),
        version=args.model_version,
        command="forensics-app " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    printer = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if args.temporal_from:
            retrain_temporal(config, args.temporal_from, resume=args.resume, printer=printer)
        else:
            run_training(config, resume=args.resume, printer=printer)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise ForensicsError(str(err)) from err
    return 0


def parse_quality_probs(text: str) -> dict[str, float]:
    """"h264=0.6,downscale=0.5" → {"h264": 0.6, "downscale": 0.5}, checked by
    `sbi.quality_probs` (a bad name or value is a UsageError naming it)."""
    from forensics_app.core.train.sbi import quality_probs

    overrides: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")  # no "=": value "" is not a number
        try:
            overrides[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--quality-probs {item!r}: expected STEP=PROBABILITY") from None
    try:
        quality_probs(overrides)
    except ValueError as err:
        raise UsageError(f"--quality-probs: {err}") from None
    return overrides
