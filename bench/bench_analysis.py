"""Per-stage throughput of the analysis engine and the ratio of a full analysis to decoding.

Builds a 60 s 1080p clip by concatenating a shared DFDC clip six times (packet remux, no
re-encode), then measures on it: decode-only fps, face detection ms/frame, spatial model
img/s, explanation ms/face, end-to-end seconds for T = 100 with explanations for every face,
and end-to-end / decode-only. Run: `make bench` or `python bench/bench_analysis.py`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.analysis.drive import run_to_end  # noqa: E402
from forensics_app.core.analysis.job import AnalysisSettings, run_analysis  # noqa: E402
from forensics_app.core.devices import describe_device, resolve_device  # noqa: E402
from forensics_app.core.explain.spatial import score_faces  # noqa: E402
from forensics_app.core.faces import FaceDetector, crop_face  # noqa: E402
from forensics_app.core.media import VideoSource, sample_indices  # noqa: E402
from forensics_app.core.models.registry import (  # noqa: E402
    DetectorModel,
    ModelCard,
    assemble_model,
    build_models,
    load_model,
)

SOURCE_CLIP = ROOT.parent / "shared" / "data" / "videos" / "fake" / "dfdc_abofeumbvv.mp4"


def concatenate(src: Path, dst: Path, times: int) -> Path:
    """Remux `src` `times` times back to back, shifting timestamps; no decoding."""
    with av.open(str(src)) as first:
        stream = first.streams.video[0]
        span = max(p.pts + (p.duration or 0) for p in first.demux(stream) if p.pts is not None)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for k in range(times):
            inp.seek(0)
            for packet in inp.demux(in_stream):
                if packet.pts is None:
                    continue
                packet.pts += k * span
                packet.dts += k * span
                packet.stream = out_stream
                out.mux(packet)
    return dst


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def detect_all(detector: FaceDetector, frames: list) -> list:
    """Detection as the engine runs it: the last frame's boxes are the next frame's hints."""
    found, hints = [], []
    for _, rgb in frames:
        found.append(detector.detect(rgb, hints))
        hints = [d.box for d in found[-1]] or hints
    return found


def bench_model(model: DetectorModel, crops: torch.Tensor, batch: int) -> dict:
    score_faces(model, crops[:batch], explain=False)  # warm-up
    _, plain = timed(lambda: [score_faces(model, crops[i:i + batch], explain=False)
                              for i in range(0, len(crops), batch)])
    _, explained = timed(lambda: [score_faces(model, crops[i:i + batch], explain=True)
                                  for i in range(0, len(crops), batch)])
    n = len(crops)
    return {"spatial_img_per_s": n / plain, "spatial_explained_img_per_s": n / explained,
            "explanation_ms_per_face": 1000 * (explained - plain) / n}


def default_or_stand_in(device: torch.device) -> tuple[DetectorModel, str]:
    try:
        return load_model(None, device), "default model"
    except Exception:  # any load failure: time the same architecture instead
        card = ModelCard(name="stand-in", version="0", spatial={}, temporal={})
        spatial, temporal = build_models(card)
        state = {f"spatial.{k}": v for k, v in spatial.state_dict().items()}
        state |= {f"temporal.{k}": v for k, v in temporal.state_dict().items()}
        return assemble_model(card, state, None, device), "random weights, same architecture"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=6, help="copies of the 10 s clip (6 = 60 s)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not SOURCE_CLIP.exists():
        print(f"bench: shared clip not found: {SOURCE_CLIP}", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    model, model_kind = default_or_stand_in(device)
    work = Path(tempfile.mkdtemp(prefix="forensics-bench-"))
    (work / "evidence").mkdir()  # results may not be written beside the evidence
    clip = concatenate(SOURCE_CLIP, work / "evidence" / "clip_60s.mp4", args.repeat)
    figures: dict = {"device": describe_device(device), "model": model_kind,
                     "cpu": platform.processor() or platform.machine(),
                     "torch_threads": torch.get_num_threads(), "T": args.frames}

    with VideoSource(clip) as source:
        info = source.info
        figures["clip"] = f"{info.width}x{info.height}, {info.frame_count} frames, " \
                          f"{info.duration_s:.1f} s, {info.codec}"
        decoded, decode_s = timed(source.decode_all)
        figures["decode_only_fps"] = decoded / decode_s
        figures["decode_only_s"] = decode_s
        sampled = sample_indices(info.frame_count, args.frames)
        frames, sample_s = timed(lambda: list(source.iter_frames(sampled)))
        figures["sampled_decode_s"] = sample_s

    with FaceDetector("full", 0.5) as detector:
        detector.detect(frames[0][1])
        detections, detect_s = timed(detect_all, detector, frames)
    figures["face_detection_ms_per_frame"] = 1000 * detect_s / len(frames)
    crops = [crop_face(rgb, dets[0].box, model.input_size)[0]
             for (_, rgb), dets in zip(frames, detections, strict=True) if dets]
    figures["faces_found"] = len(crops)
    tensor = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    figures |= bench_model(model, tensor, batch=32)

    job = run_analysis(clip, work / "out", AnalysisSettings(frames=args.frames), model)
    start = time.perf_counter()
    bundle = run_to_end(job)
    figures["end_to_end_s"] = time.perf_counter() - start
    figures["end_to_end_stage_s"] = bundle.results.timings_s
    figures["ratio_end_to_end_to_decode"] = figures["end_to_end_s"] / decode_s
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def report(f: dict) -> None:
    print(f"clip: {f['clip']}; device: {f['device']}; model: {f['model']}; T = {f['T']}")
    print(f"decode-only:          {f['decode_only_fps']:7.1f} fps ({f['decode_only_s']:.1f} s)")
    print(f"sampled decode:       {f['sampled_decode_s']:7.1f} s for {f['T']} frames")
    print(f"face detection:       {f['face_detection_ms_per_frame']:7.1f} ms/frame "
          f"({f['faces_found']} faces)")
    print(f"spatial model:        {f['spatial_img_per_s']:7.1f} img/s")
    print(f"spatial + explain:    {f['spatial_explained_img_per_s']:7.1f} img/s "
          f"(explanation {f['explanation_ms_per_face']:.1f} ms/face)")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in f["end_to_end_stage_s"].items())
    print(f"end-to-end:           {f['end_to_end_s']:7.1f} s ({stages})")
    print(f"end-to-end / decode:  {f['ratio_end_to_end_to_decode']:7.2f}")


if __name__ == "__main__":
    sys.exit(main())
