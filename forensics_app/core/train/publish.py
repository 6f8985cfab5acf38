"""Copy a training run's model into a models/ folder with its card completed.

The weights are copied byte for byte (so the SHA-256 recorded at training time still holds);
the card gains the plain-language limitations and any held-out test figures.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from forensics_app.core.analysis.metrics import SEPARATION, separates
from forensics_app.core.analysis.results import marker_rates
from forensics_app.core.errors import ForensicsError
from forensics_app.core.models.figures import (
    NEAR_BOUNDARY,
    held_out_markdown,
    share,
    unmet_targets,
)
from forensics_app.core.models.registry import (
    CARD_MARKDOWN,
    WEIGHTS_FILE,
    read_card,
    sha256_file,
    write_card,
)

LIMITATIONS = [
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


def spatial_chain(training: dict) -> list[dict]:
    """The runs a continued spatial model was built on, base first: each one's record (base
    name, version, SHA-256, command, minutes) as `trainer.spatial_init_record` nests them."""
    chain, init = [], training.get("spatial_init")
    while init:
        chain.insert(0, init)
        init = init.get("base_spatial_init")
    return chain


def run_minutes(training: dict) -> list:
    """Training minutes of every run the model was built on, base first (None: unknown)."""
    return ([init.get("base_total_minutes") for init in spatial_chain(training)]
            + [training.get("total_minutes")])


def chain_minutes(training: dict) -> float | None:
    """Training minutes of the model and of every run its spatial model continues."""
    runs = run_minutes(training)
    retrain = (training.get("temporal_retrain") or {}).get("minutes")
    return None if None in runs else sum(runs) + (retrain or 0)


def scale_limitation(training: dict) -> str:
    """How much it was trained, from the card's own recipe figures."""
    minutes = chain_minutes(training)
    epochs = training.get("data_epochs", training.get("epochs_run"))
    images = (epochs * training["steps_per_epoch"] * training["batch_images"]
              if epochs and training.get("steps_per_epoch") and training.get("batch_images")
              else None)
    when = f"in about {minutes / 60:.1f} hours" if minutes else "in a few hours"
    seen = f"about {images:,} training images" if images else "a modest number of images"
    return (f"It was trained on a 2-core CPU {when}: {seen} (real faces of about 11,000 "
            "people from LFW and UTKFace and 17 real clips, their self-blended fakes, and DFDC "
            "real/fake crops). A GPU-trained model of the same design would be stronger; the "
            "held-out figures in this card are what this one reaches.")


def measured_limitations(metrics: dict) -> list[str]:
    """Limitations whose figures come from the card's own held-out measurements."""
    return marker_limitations(metrics) + region_limitations(metrics)


# How each drawn limitation opens: a card line that opens so is an earlier drawing of it,
# replaced when the card is drawn again, even where its wording has changed since.
DRAWN_OPENINGS = ("Its red markers (unusual frames) are leads, not findings:",
                  "Its temporal views are one draw of an unstable training stage:",
                  "Fakes that alter only part of the face,")


def is_drawn_limitation(line: str) -> bool:
    """Whether a card's limitation was drawn from its figures (not written in words)."""
    return line.startswith(DRAWN_OPENINGS)


def region_limitations(metrics: dict) -> list[str]:
    """How much less it finds blends of part of the face (`bench/sbi_strata.py --card-out`,
    given to publish as `--metrics sbi_strata=FILE`)."""
    regions = dict((metrics.get("sbi_strata") or {}).get("auc_by_region") or {})
    whole = regions.pop("whole face", None)
    if whole is None or not regions:
        return []
    parts = [f"{auc:.2f} ({name})" for name, auc in regions.items()]
    listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    return [f"Fakes that alter only part of the face, as lip-sync fakes alter the mouth, are "
            f"found less reliably than whole-face ones: held-out self-blends of part of the "
            f"face scored AUC {listed}, against {whole:.2f} for the whole face."]


def marker_limitations(metrics: dict) -> list[str]:
    """The red markers' and the temporal views' reliability, from the card's splice figures."""
    rates = marker_rates(metrics)
    if rates is None:
        return []
    near, real = rates
    splices = metrics["heldout"]["splices"]
    lines = [f"Its red markers (unusual frames) are leads, not findings: on synthetic splices "
             f"of held-out clips {near:.0%} of the windows got a marker {NEAR_BOUNDARY}, and "
             f"{real:.0%} of the same windows unspliced (real) got a "
             "marker too."]
    spread = metrics.get("temporal_spread")  # bench/temporal_spread.py
    localisation = splices.get("relevancy_localisation_auc_mean")
    if spread and localisation is not None and "localisation" in spread:
        (loc_lo, loc_hi), (near_lo, near_hi), (real_lo, real_hi) = (
            spread["localisation"], spread["marker_near_boundary"],
            spread["real_windows_marked"])
        lines.append(
            f"Its temporal views are one draw of an unstable training stage: its relevancy "
            f"localised the held-out splices at {localisation:.2f}, but {spread['trainings']} "
            f"trainings of the same stage on the same embeddings gave {loc_lo:.2f}-{loc_hi:.2f} "
            f"over {spread['epochs_measured']} measured epochs, a marker near a boundary in "
            f"{near_lo:.0%}-{near_hi:.0%} of the windows and some marker on {real_lo:.0%}-"
            f"{real_hi:.0%} of the real ones: a temporal view that points at a stretch is "
            "weaker evidence than one figure suggests.")
    return lines


RELIABILITY_FILE = "reliability.png"


def publish(run: Path, dest: Path, extra_metrics: dict | None = None,
            limitations: list[str] | None = None, extra_training: dict | None = None,
            reliability: Path | None = None, more_limitations: list[str] | None = None,
            version: str | None = None) -> Path:
    """`reliability`: the held-out reliability diagram (evaluate --heldout), shipped beside
    the card; a diagram left from an earlier model in `dest` is removed either way.
    `limitations` replace the standard ones, `more_limitations` follow them. `version`
    replaces the version the run was trained under (an experiment's label, chosen before
    anyone knew it would ship), which the card keeps as `training.run_version`."""
    run, dest = Path(run), Path(dest)
    card = read_card(run)
    weights = run / WEIGHTS_FILE
    if card.sha256 != sha256_file(weights):
        raise ValueError(f"{weights} does not match its card's SHA-256")
    check_measured_on(card.sha256, extra_metrics or {})
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / WEIGHTS_FILE)
    (dest / RELIABILITY_FILE).unlink(missing_ok=True)
    if reliability is not None:
        shutil.copyfile(reliability, dest / RELIABILITY_FILE)
    card.metrics = {**card.metrics, **(extra_metrics or {})}
    card.training = {**card.training, **(extra_training or {})}
    version = (version or "").strip()
    if version and version != card.version:
        card.training["run_version"] = card.version
        card.version = version
    card.limitations = (list(limitations) if limitations else
                        [scale_limitation(card.training), *LIMITATIONS]) \
        + list(more_limitations or []) + measured_limitations(card.metrics)
    write_card(dest, card)
    write_markdown(dest)
    assert sha256_file(dest / WEIGHTS_FILE) == card.sha256
    return dest


def amend(folder: Path, extra_metrics: dict) -> Path:
    """Add figures measured on a published model to its card (its weights untouched): the
    limitations drawn from the card's figures are drawn again, the others stay as written.
    With no figures, the card and its MODEL_CARD.md are drawn again as the code draws them
    now (its targets, its wording)."""
    folder = Path(folder)
    card = read_card(folder)
    if card.sha256 != sha256_file(folder / WEIGHTS_FILE):
        raise ValueError(f"{folder / WEIGHTS_FILE} does not match its card's SHA-256")
    check_measured_on(card.sha256, extra_metrics)
    kept = [line for line in card.limitations if not is_drawn_limitation(line)]
    card.metrics = {**card.metrics, **extra_metrics}
    card.limitations = kept + measured_limitations(card.metrics)
    write_card(folder, card)
    write_markdown(folder)
    return folder


def check_measured_on(sha256: str, extra_metrics: dict) -> None:
    """Refuse figures that name another model than the one whose card they go into."""
    for name, value in extra_metrics.items():
        measured_on = measured_sha256(value)
        if measured_on not in (None, sha256):
            raise ValueError(f"the {name} figures were measured on another model (SHA-256 "
                             f"{measured_on[:12]}…, this one {sha256[:12]}…)")


def measured_sha256(figures: object) -> str | None:
    """The SHA-256 of the model a figures file names (`sha256`, or `model.sha256` as
    `evaluate --heldout` writes it), if it names one."""
    if not isinstance(figures, dict):
        return None
    model = figures.get("model")
    named = figures.get("sha256") or (model.get("sha256") if isinstance(model, dict) else None)
    return str(named) if named else None


def folder_markdown(folder: Path) -> str:
    """The MODEL_CARD.md of a model folder: its card, and its reliability diagram if shipped."""
    return render_markdown(read_card(folder),
                           reliability=(Path(folder) / RELIABILITY_FILE).exists())


def write_markdown(folder: Path) -> None:
    """(Re)write the folder's MODEL_CARD.md from its model_card.json."""
    (Path(folder) / CARD_MARKDOWN).write_text(folder_markdown(folder), encoding="utf-8")


def shared_videos_entry(metrics: dict, root: Path) -> dict:
    """The card's `shared_videos` from `evaluate --labels … --kinds video` metrics.json (the
    form test_default_model re-analyses: path under the data root, truth, p_fake, label)."""
    videos = {}
    for item in metrics["items"]:
        path = Path(item["path"])
        videos[path.stem] = {"path": str(path.resolve().relative_to(root.resolve())),
                             "truth": "fake" if item["label"] else "real",
                             "p_fake": item["p_fake"], "label": item["prediction"]}
    return {"frames": metrics["frames_per_video"], "videos": videos,
            "video_auc": metrics["video"]["auc"], "video_accuracy": metrics["video"]["accuracy"],
            "frame_auc": metrics["frame"]["auc"],
            "correct": sum(v["label"] == v["truth"] for v in videos.values()),
            "count": len(videos)}


def dfl_videos_entry(metrics: dict) -> dict:
    """The card's `dfl_videos` from `evaluate --labels videos/dfl/labels.csv --kinds video`
    metrics.json: clips of a face-swap tool never trained on, and how many swaps the engine
    called fake."""
    items = metrics["items"]
    fakes = [i for i in items if i["label"]]
    return {"frames": metrics["frames_per_video"], "video_auc": metrics["video"]["auc"],
            "video_accuracy": metrics["video"]["accuracy"], "frame_auc": metrics["frame"]["auc"],
            "reals": len(items) - len(fakes), "fakes": len(fakes),
            "fakes_called_fake": sum(i["prediction"] == "fake" for i in fakes),
            "reals_called_fake": sum(i["prediction"] == "fake" for i in items
                                     if not i["label"])}


def shared_faces_entry(metrics: dict) -> dict:
    """The card's `shared_faces` from `evaluate --labels … --kinds face,image` metrics.json."""
    by_kind = metrics["frame_by_kind"]
    return {"faces_dfdc_22_crops": by_kind["face"], "images_real": by_kind["image"]}


def main(argv: list[str] | None = None) -> int:
    """python -m forensics_app.core.train.publish RUN DEST [--heldout FILE] [--videos FILE]
    [--faces FILE] [--metrics NAME=FILE.json ...] [--limitation TEXT ...] [--version V], or
    python -m forensics_app.core.train.publish --amend MODEL --metrics NAME=FILE.json ..."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path, nargs="?")
    parser.add_argument("--amend", action="store_true",
                        help="RUN is a published model folder: add the --metrics figures to its "
                             "card, weights untouched (no DEST)")
    parser.add_argument("--heldout", type=Path, help="evaluate --heldout's heldout.json")
    parser.add_argument("--videos", type=Path,
                        help="metrics.json of evaluate --labels … --kinds video")
    parser.add_argument("--faces", type=Path,
                        help="metrics.json of evaluate --labels … --kinds face,image")
    parser.add_argument("--dfl", type=Path,
                        help="metrics.json of evaluate --labels videos/dfl/labels.csv --kinds "
                             "video (the DeepFaceLive clips, never trained on)")
    parser.add_argument("--root", type=Path, default=Path("../shared/data"),
                        help="the folder the labels CSV's paths are relative to")
    parser.add_argument("--metrics", nargs="*", default=[],
                        help="NAME=FILE.json: add the file's content to the card's metrics")
    parser.add_argument("--limitation", action="append", default=[],
                        help="one more limitation, in words, after the standard ones")
    parser.add_argument("--version",
                        help="the published version, where the run was trained under another "
                             "(the card keeps that one as training.run_version)")
    args = parser.parse_args(argv)
    if args.version is not None and not args.version.strip():
        parser.error("--version: empty")
    if args.amend and (args.dest or args.limitation or args.version):
        parser.error("--amend takes a model folder and figures (--heldout, --videos, --faces, "
                     "--dfl, --metrics) only; with none it draws the card again")
    if not args.amend and args.dest is None:
        parser.error("DEST is required")

    def read(path: Path) -> dict:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a JSON figures file ({err})") from err

    try:
        extra, reliability = {}, None
        if args.heldout:
            extra["heldout"] = read(args.heldout)
            diagram = args.heldout.parent / RELIABILITY_FILE
            reliability = diagram if diagram.exists() else None
        if args.videos:
            extra["shared_videos"] = shared_videos_entry(read(args.videos), args.root)
        if args.faces:
            extra["shared_faces"] = shared_faces_entry(read(args.faces))
        if args.dfl:
            extra["dfl_videos"] = dfl_videos_entry(read(args.dfl))
        for item in args.metrics:
            name, _, file = item.partition("=")
            extra[name] = read(Path(file))
        if args.amend:
            print(amend(args.run, extra))
            return 0
        print(publish(args.run, args.dest, extra, reliability=reliability,
                      more_limitations=args.limitation, version=args.version))
    except (ForensicsError, OSError, ValueError, KeyError) as err:  # JSON errors: ValueError
        print(f"publish: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0



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


def _minutes(training: dict) -> str:
    """The training time of the model and of every run it was built on, run by run."""
    retrain = training.get("temporal_retrain") or {}
    text = " + ".join("?" if m is None else str(m) for m in run_minutes(training))
    return text + (f" + {retrain['minutes']} (temporal retrain)" if retrain.get("minutes")
                   else "")


def _spatial_init_markdown(training: dict) -> list[str]:
    """For a spatial model continued from earlier ones: every run of the chain, base first, so
    the whole model can be rebuilt from ImageNet weights by running the commands in order."""
    chain = spatial_chain(training)
    if not chain:
        return []
    lines = ["The spatial model was not started from ImageNet weights: it continues a chain of "
             "earlier runs, each with the same crop and the same held-out split and each "
             "drawing its images from the data epoch after its base's last (no blend drawn "
             "twice). In order, from ImageNet weights:", ""]
    for init in chain:
        base = init["base"]
        lines += [f"{base['name']} {base['version']} (SHA-256 `{base['sha256'][:16]}…`, "
                  f"{init.get('base_data_epochs')} epochs of images in all, this run "
                  f"{init.get('base_total_minutes')} min):", "", "```",
                  init.get("base_command") or "", "```", ""]
    lines += [f"then the command at the top of this section: {training.get('data_epochs')} "
              "epochs of images in all.", ""]
    return lines


def headline_markdown(card) -> str:
    """The card's held-out figures against the project's targets, as the first thing a reader
    of MODEL_CARD.md sees; built from the metrics (`held_out_figures`, the rows the evidence
    report shows too), so it cannot disagree with them."""
    unmet = unmet_targets(card.metrics)
    verdict = ("it meets the detection targets" if not unmet else "it does **not** reach "
               f"every target this project set (issue 8; not reached: {', '.join(unmet)}): say "
               "so in any report")
    lines = [f"**Read this first.** A detector trained in about {_minutes(card.training)} "
             "minutes on a 2-core CPU. On held-out data it is a real but moderate detector, "
             f"and {verdict}.", "", *held_out_markdown(card.metrics)]
    lines += ["", "Commands: `forensics-app evaluate --heldout ../shared/data --model "
              f"models/{card.name} --out EVAL` (faces, DFDC, calibration, splices) and "
              "`forensics-app evaluate --labels ../shared/data/labels.csv --kinds video "
              f"--exclude-training --frames 32 --model models/{card.name} --out EVAL2` "
              "(shared videos). The two shared DFDC fakes are a test only: no weight, "
              "temperature or threshold was fitted on them."]
    return "\n".join(lines)


def render_markdown(card, reliability: bool = False) -> str:
    """MODEL_CARD.md from the card itself, so the two can never disagree: the held-out
    figures against the targets first, then the data, splits, training, calibration (with the
    reliability diagram shipped beside the card, if `reliability`), every figure, the
    indicators, the limitations."""
    t, m = card.training, card.metrics
    lines = [f"# {card.name} {card.version}", "", card.description, "",
             headline_markdown(card), ""]
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
              f"{t.get('train_img_per_s')} img/s, {t.get('total_minutes')} min in all"
              f" ({t.get('spatial_precision', 'float32')} spatial forward pass).", "",
              *_recipe_details_markdown(t),
              *_spatial_init_markdown(t), *_temporal_markdown(t),
              "## Calibration and threshold", "",
              f"{(t.get('calibration') or {}).get('method', '')}. Temperatures: spatial "
              f"{card.temperature_spatial}, temporal {card.temperature_temporal}; fusion "
              f"`{card.fusion}`; threshold {card.threshold} (the label is the side of 0.5 the "
              "calibrated probability is on, so it never contradicts it).", ""]
    if reliability:
        lines += [f"![Reliability diagram of the held-out faces]({RELIABILITY_FILE})", "",
                  "(`evaluate --heldout`: observed fake rate against predicted p_fake in ten "
                  "bins, with each bin's count.)", ""]
    lines += ["## Figures (all on held-out data)", ""]
    for name, value in m.items():
        lines += [f"### {name}", "", *_metric_lines(value), ""]
    lines += _indicator_markdown(card.indicator_rates)
    lines += ["## Limitations", ""] + [f"- {x}" for x in card.limitations]
    lines += ["", "## Weights", "", f"`model.safetensors`, SHA-256 `{card.sha256}`", ""]
    return "\n".join(lines)


def _indicator_markdown(rates: dict) -> list[str]:
    """The indicators' measured trigger rates and which of them count as findings."""
    lines = ["## Indicators", ""]
    if not rates:
        return [*lines, "Not measured for this model (`bench/indicator_rates.py --write-card`): "
                "every indicator is shown as reference only, never as a finding.", ""]
    first = next(iter(rates.values()))
    lines += [f"Trigger rates on {first.get('n_real')} held-out real clips and "
              f"{first.get('n_fake')} synthetic fakes made from them "
              f"({', '.join(first.get('fakes') or [])}; T = {first.get('frames')}), by "
              "`bench/indicator_rates.py`. An indicator is a finding only where it triggers on "
              f"at least {SEPARATION * 100:.0f} percentage points more of the fakes than of "
              "the reals; the rest are reference only.", "",
              "| indicator | reals triggered | fakes triggered | finding |", "|---|---|---|---|"]
    for name, rate in rates.items():
        real, fake = rate.get("real"), rate.get("fake")
        lines.append(f"| `{name}` | {share(real)} | {share(fake)} | "
                     f"{'yes' if separates(real, fake) else 'no: reference only'} |")
    return [*lines, ""]


def _recipe_details_markdown(training: dict) -> list[str]:
    """The augmentation probabilities and the epoch choice, where the card records them."""
    lines = []
    if training.get("quality_probs"):
        lines.append("Quality augmentation, drawn alike for reals and fakes (probability of "
                     "each step): " + ", ".join(f"{k} {v:g}" for k, v in
                                                training["quality_probs"].items()) + ".")
    if training.get("epoch_selection"):
        lines.append(f"Epoch choice: {training['epoch_selection']}.")
    return [line for item in lines for line in (item, "")]


def _temporal_markdown(training: dict) -> list[str]:
    """How the temporal model was trained: its attention supervision and, for a model whose
    temporal stage was trained again on an earlier model's spatial one, that run."""
    retrain = training.get("temporal_retrain") or {}
    recipe = retrain or training
    lines = []
    if retrain:
        base = retrain["base"]
        lines += [f"The spatial model (weights and calibration) is {base['name']} "
                  f"{base['version']}'s (SHA-256 `{base['sha256'][:16]}…`), made by the command "
                  "above; the temporal model was then trained again on its embeddings, "
                  f"{retrain.get('minutes')} min on {retrain.get('device')}:", "", "```",
                  retrain.get("command", ""), "```", ""]
    target = recipe.get("temporal_attention_target")
    if recipe.get("temporal_attention_weight") and target:
        lines += [f"Temporal model: {recipe.get('temporal_epochs')} epochs on synthetic "
                  "temporal fakes (flicker, splice, freeze, drop, identity change) and real "
                  "windows, clip label plus an attention loss (weight "
                  f"{recipe['temporal_attention_weight']}): the mean attention is trained toward "
                  f"a local kernel within unbroken footage (decay {target['tau_frames']} "
                  f"sampled frames), {target['fake_share']:.0%} of each row on the frames a "
                  "fake altered, and a clip-wide look from the two frames either side of a cut. "
                  "So its red markers are where *it* sees other footage begin, and bright "
                  "columns where it sees altered frames: learned, not emergent, and only as "
                  "good as the figures above.", ""]
    return lines


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


if __name__ == "__main__":
    raise SystemExit(main())
