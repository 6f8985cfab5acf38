"""Copy a training run's model into a models/ folder with its card completed.

The weights are copied byte for byte (so the SHA-256 recorded at training time still holds);
the card gains the plain-language limitations and any held-out test figures.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from forensics_app.core.models.registry import CARD_FILE, WEIGHTS_FILE, read_card, sha256_file

LIMITATIONS = [
    "It was trained on a 2-core CPU in about two hours: about 56,000 training images (real "
    "faces of about 11,000 people from LFW and UTKFace and 17 real clips, their self-blended "
    "fakes, and DFDC real/fake crops). A GPU-trained model of the same design would be "
    "stronger; the held-out figures in this card are what this one reaches.",
    "The only real deepfakes it learned from are DFDC face swaps (one crop per video); other "
    "manipulation methods (reenactment, neural textures, lip-sync, fully synthetic faces) are "
    "only represented by self-blended fakes and may go undetected.",
    "Its probabilities are calibrated on held-out self-blends and DFDC crops, not on footage "
    "from other sources: on other material p_fake is a score, not a measured frequency.",
    "It looks at faces at 224 × 224 pixels with a 30 % margin; small, blurred, heavily "
    "compressed, profile or partly hidden faces give unreliable scores.",
    "Real footage with strong make-up, beauty filters, unusual lighting or heavy re-encoding can "
    "look blended to it and be flagged as fake.",
    "The training data is for research (LFW, DFDC) or non-commercial research (UTKFace) use; "
    "so is this model.",
    "A verdict from this model is a lead for a human examiner, not proof: attention and "
    "relevancy maps show where the model looked, not that a region was manipulated.",
]


def publish(run: Path, dest: Path, extra_metrics: dict | None = None,
            limitations: list[str] | None = None, extra_training: dict | None = None) -> Path:
    run, dest = Path(run), Path(dest)
    card = read_card(run)
    weights = run / WEIGHTS_FILE
    if card.sha256 != sha256_file(weights):
        raise ValueError(f"{weights} does not match its card's SHA-256")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / WEIGHTS_FILE)
    card.limitations = list(limitations or LIMITATIONS)
    card.metrics = {**card.metrics, **(extra_metrics or {})}
    card.training = {**card.training, **(extra_training or {})}
    (dest / CARD_FILE).write_text(json.dumps(asdict(card), indent=2) + "\n", encoding="utf-8")
    assert sha256_file(dest / WEIGHTS_FILE) == card.sha256
    return dest


def main(argv: list[str] | None = None) -> int:
    """python -m forensics_app.core.train.publish RUN DEST [--metrics NAME=FILE.json ...]"""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--metrics", nargs="*", default=[],
                        help="NAME=FILE.json: add the file's content to the card's metrics")
    args = parser.parse_args(argv)
    extra = {}
    for item in args.metrics:
        name, _, file = item.partition("=")
        extra[name] = json.loads(Path(file).read_text(encoding="utf-8"))
    print(publish(args.run, args.dest, extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------------- MODEL_CARD.md

SOURCES = [
    ("LFW (Labeled Faces in the Wild, deep-funneled)", "faces/lfw", "research use"),
    ("UTKFace (in-the-wild crops, adults)", "faces/utkface", "non-commercial research only"),
    ("DFDC face crops (real and fake, one per video)", "faces/dfdc_crops",
     "DFDC data: research use"),
    ("LivePortrait driving clips (real talking heads)", "videos/real/liveportrait_*", "MIT"),
    ("GRID audio-visual corpus samples (real speakers)", "videos/real/grid_*", "CC BY 4.0"),
    ("Hamilton stage clip (face_recognition examples)", "videos/real/two_faces_hamilton.mp4",
     "MIT"),
]


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_markdown(card, figures_md: str = "") -> str:
    """MODEL_CARD.md from the card itself, so the two can never disagree; `figures_md` is the
    hand-written reading of the figures (what they mean, what they do not)."""
    t, m = card.training, card.metrics
    lines = [f"# {card.name} {card.version}", "", card.description, ""]
    if figures_md:
        lines += [figures_md.strip(), ""]
    lines += ["## Data and terms", "", "| source | folder under ../shared/data | terms |",
              "|---|---|---|"]
    lines += [f"| {a} | `{b}` | {c} |" for a, b, c in SOURCES]
    lines += ["", "Every source is used by reference, never copied into this repository. "
              "The model inherits the most restrictive terms: **non-commercial research use**.",
              "", "## Splits", ""]
    folders = t.get("face_folders") or {}
    for source in ("lfw", "utkface", "dfdc_crops"):
        if source in folders:
            f = folders[source]
            lines.append(f"- `{source}`: train {f['train_images']} images / {f['train_groups']} "
                         f"groups, held out {f['val_images']} images / {f['val_groups']} groups")
    lines += [f"- split unit: LFW identity, UTKFace image (no identity column), DFDC source "
              f"video (a fake and its source on one side); seed {t.get('seed')}, held-out "
              f"fractions {t.get('face_val_fraction')} (faces) / {t.get('dfdc_val_fraction')} "
              "(DFDC)",
              f"- real clips, training: {', '.join(t.get('train_clips', []))}",
              f"- real clips, held out: {', '.join(t.get('val_clips', []))}",
              f"- crop: {t.get('crop', 'n/a')}", "",
              "## Training", "", "```", t.get("command", ""), "```", "",
              f"{t.get('epochs_run')} epochs × {t.get('steps_per_epoch')} steps × "
              f"{t.get('batch_images')} images, self-blend share {t.get('sbi_share')}, input "
              f"{t.get('input_size')} px, stem + {t.get('freeze_blocks')} stages frozen, device "
              f"{t.get('device')} ({t.get('torch_threads')} threads), "
              f"{t.get('train_img_per_s')} img/s, {t.get('total_minutes')} min in all.", "",
              "## Calibration and threshold", "",
              f"{(t.get('calibration') or {}).get('method', '')}. Temperatures: spatial "
              f"{card.temperature_spatial}, temporal {card.temperature_temporal}; fusion "
              f"`{card.fusion}`; threshold {card.threshold} (the label is the side of 0.5 the "
              "calibrated probability is on, so it never contradicts it).", "",
              "## Figures (all on held-out data)", ""]
    for name, value in m.items():
        lines += [f"### {name}", "", *_metric_lines(value), ""]
    lines += ["## Limitations", ""] + [f"- {x}" for x in card.limitations]
    lines += ["", "## Weights", "", f"`model.safetensors`, SHA-256 `{card.sha256}`", ""]
    return "\n".join(lines)


def _metric_lines(value, depth: int = 0) -> list[str]:
    if not isinstance(value, dict):
        return [f"{'  ' * depth}- {_fmt(value)}"]
    out = []
    for key, item in value.items():
        if key in ("reliability", "roc", "items", "confusion_matrix"):
            continue
        if isinstance(item, dict):
            out.append(f"{'  ' * depth}- {key}:")
            out += _metric_lines(item, depth + 1)
        elif isinstance(item, list):
            if item and isinstance(item[0], dict):
                continue
            out.append(f"{'  ' * depth}- {key}: {', '.join(_fmt(v) for v in item)}")
        else:
            out.append(f"{'  ' * depth}- {key}: {_fmt(item)}")
    return out
