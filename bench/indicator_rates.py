"""How often each indicator triggers on real and on fake validation clips.

    nice -n 19 .venv/bin/python bench/indicator_rates.py [--model M] [--frames 32]
        [--real CLIP ...] [--kinds blend,freeze] [--results-real DIR ...]
        [--results-fake DIR ...] [--json OUT.json] [--write-card]

By default the held-out real clips (liveportrait_d3, d9, d12, d13, grid_bbaf2n, grid_sbwe5n
from ../shared/data/videos/real) are analysed, each as a T-frame clip of its sampled frames
(re-encoded, so real and fake share the codec round trip, at the rate that keeps the
clip's duration), together with synthetic splice
fakes made from the same frames: `blend`, the face of the middle third of the frames altered
in colour, contrast and sharpness (a self-blend without landmarks: an elliptical soft mask
over the detected box), and `freeze`, the middle third frozen on its first frame. Existing
analyses can be added with --results-real / --results-fake (results folders).

Prints a markdown table: per indicator its trigger rate on the reals and on the fakes, and
whether it separates them (core.analysis.metrics.separates: fake rate ≥ real rate + 0.2);
one that does not is "reference only" in results. --json writes the rates; --write-card puts
them into the model's model_card.json (`indicator_rates`), which the analysis reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.analysis.drive import run_to_end  # noqa: E402
from forensics_app.core.analysis.job import AnalysisSettings, run_analysis  # noqa: E402
from forensics_app.core.analysis.metrics import INDICATOR_NAMES, SEPARATION, separates  # noqa: E402
from forensics_app.core.analysis.results import Results, read_results  # noqa: E402
from forensics_app.core.faces.detector import FaceDetector  # noqa: E402
from forensics_app.core.media import VideoSource, sample_indices  # noqa: E402
from forensics_app.core.models.registry import CARD_FILE, load_model  # noqa: E402
from forensics_app.core.train.publish import write_markdown  # noqa: E402
from forensics_app.core.train.sbi import alter, sample_params  # noqa: E402

REAL_DIR = ROOT.parent / "shared" / "data" / "videos" / "real"
HELD_OUT = ("liveportrait_d3.mp4", "liveportrait_d9.mp4", "liveportrait_d12.mp4",
            "liveportrait_d13.mp4", "grid_bbaf2n.mpg", "grid_sbwe5n.mpg")
KINDS = ("blend", "freeze")


def sampled_frames(clip: Path, count: int) -> tuple[list[np.ndarray], float]:
    """The `count` frames the analysis would sample, RGB, and the frame rate that gives them
    the clip's own duration (so a frozen third lasts a third of the clip, as it would)."""
    with VideoSource(clip) as source:
        info = source.info
        indices = sample_indices(info.frame_count, count)
        frames = [frame for _, frame in source.iter_frames(indices)]
        return frames, len(frames) * info.fps / info.frame_count


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """H.264 at high quality, even dimensions (yuv420p needs them)."""
    h, w = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.options = {"crf": "16", "preset": "veryfast"}
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]),
                                                 format="rgb24")
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return path


def middle_third(count: int) -> range:
    return range(count // 3, max(count // 3 + 1, 2 * count // 3))


def blend_fake(frames: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """The face of the middle third altered (one set of parameters for the whole stretch)."""
    rng = np.random.default_rng(seed)
    params = sample_params(rng)
    out = [f.copy() for f in frames]
    with FaceDetector("full") as detector:
        for i in middle_third(len(frames)):
            faces = detector.detect(frames[i])
            if faces:
                out[i] = _blend_box(frames[i], faces[0].box, params)
    return out


def _blend_box(image: np.ndarray, box: np.ndarray, params) -> np.ndarray:
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        return image
    h, w = crop.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    # A soft ellipse inside the box: the blending boundary a face swap leaves.
    r = ((xx - w / 2) / (0.45 * w)) ** 2 + ((yy - h / 2) / (0.5 * h)) ** 2
    mask = np.clip(1.5 - r, 0.0, 1.0)[..., None] * params.blend_ratio
    altered = alter(crop, params).astype(np.float32)
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(altered * mask + crop * (1 - mask), 0, 255).astype(np.uint8)
    return out


def freeze_fake(frames: list[np.ndarray]) -> list[np.ndarray]:
    stretch = middle_third(len(frames))
    return [frames[stretch.start] if i in stretch else f for i, f in enumerate(frames)]


def analyse(video: Path, out: Path, model, frames: int) -> Results:
    return run_to_end(run_analysis(video, out, AnalysisSettings(frames=frames), model)).results


def triggered(results: Results) -> dict[str, bool]:
    return {i.name: i.triggered for i in results.indicators}


def rates(outcomes: list[dict[str, bool]]) -> dict[str, float | None]:
    """Share of clips on which each indicator triggered (None: it never applied)."""
    out: dict[str, float | None] = {}
    for name in INDICATOR_NAMES:
        seen = [o[name] for o in outcomes if name in o]
        out[name] = float(np.mean(seen)) if seen else None
    return out


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def table(real: dict[str, float | None], fake: dict[str, float | None], n_real: int,
          n_fake: int) -> str:
    lines = [f"| indicator | real clips triggered (n = {n_real}) | fake clips triggered "
             f"(n = {n_fake}) | separates (fake ≥ real + {SEPARATION:g}) |", "|---|---|---|---|"]
    for name in INDICATOR_NAMES:
        r, f = real[name], fake[name]
        lines.append(f"| `{name}` | {_percent(r)} | {_percent(f)} | "
                     f"{'yes' if separates(r, f) else 'no: reference only'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder or name (default model)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (T)")
    p.add_argument("--real", nargs="*", type=Path, default=[REAL_DIR / n for n in HELD_OUT])
    p.add_argument("--kinds", default=",".join(KINDS), help="synthetic fakes: blend,freeze")
    p.add_argument("--results-real", nargs="*", type=Path, default=[])
    p.add_argument("--results-fake", nargs="*", type=Path, default=[])
    p.add_argument("--json", type=Path, default=None, help="write the rates here")
    p.add_argument("--write-card", action="store_true",
                   help="store the rates in the model's model_card.json (indicator_rates)")
    args = p.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    model = load_model(args.model)
    real_out, fake_out = [], []
    with tempfile.TemporaryDirectory(prefix="indicator-rates-") as tmp:
        clips, analyses = Path(tmp) / "clips", Path(tmp) / "results"  # never beside evidence
        clips.mkdir()
        analyses.mkdir()
        for n, clip in enumerate(args.real):
            frames, fps = sampled_frames(clip, args.frames)
            variants = {"real": frames}
            if "blend" in kinds:
                variants["blend"] = blend_fake(frames, seed=n)
            if "freeze" in kinds:
                variants["freeze"] = freeze_fake(frames)
            for kind, pictures in variants.items():
                video = write_clip(clips / f"{clip.stem}-{kind}.mp4", pictures, fps)
                result = analyse(video, analyses / f"{clip.stem}-{kind}", model, args.frames)
                (real_out if kind == "real" else fake_out).append(triggered(result))
                print(f"{clip.name} {kind}: {result.prediction.label} "
                      f"p_fake {result.prediction.p_fake}", file=sys.stderr)
    real_out += [triggered(read_results(d).results) for d in args.results_real]
    fake_out += [triggered(read_results(d).results) for d in args.results_fake]
    real, fake = rates(real_out), rates(fake_out)
    print(f"Model {model.card.name} {model.card.version}, T = {args.frames}, fakes: "
          f"{', '.join(kinds) or 'results folders only'}\n")
    print(table(real, fake, len(real_out), len(fake_out)))
    measured = {name: {"real": real[name], "fake": fake[name], "n_real": len(real_out),
                       "n_fake": len(fake_out), "frames": args.frames, "fakes": kinds}
                for name in INDICATOR_NAMES if real[name] is not None and fake[name] is not None}
    if args.json:
        args.json.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    if args.write_card and model.folder is not None:
        card_path = model.folder / CARD_FILE
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["indicator_rates"] = measured
        card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        write_markdown(model.folder)
        print(f"\nwritten to {card_path} and its MODEL_CARD.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
