"""The analysis job: evidence file → results folder.

`run_analysis` is a generator: it yields `Progress` between steps (the CLI prints it, the GUI's
worker forwards it) and returns the `ResultsBundle`. Cancellation is checked between steps
through a `threading.Event`.
"""

from __future__ import annotations

import platform
import subprocess
import threading
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.analysis.conditions import check_conditions, outside_reasons
from forensics_app.core.analysis.faces_stage import TrackedFaces, detect_and_track
from forensics_app.core.analysis.metrics import indicators, temporal_metrics
from forensics_app.core.analysis.results import (
    EXPLAIN_METHODS,
    Condition,
    Evidence,
    FaceBox,
    FaceDetectorInfo,
    FaceMaps,
    Identity,
    ModelInfo,
    OutputLock,
    Prediction,
    Results,
    ResultsBundle,
    RunSettings,
    Shot,
    ToolInfo,
    check_destination,
    check_output_folder,
    write_results,
)
from forensics_app.core.analysis.settings import AnalysisSettings  # the one definition
from forensics_app.core.analysis.verdict import (
    MIN_FACE_PX,
    cap_confidence,
    decide,
    is_too_small,
    small_faces_reason,
)
from forensics_app.core.devices import describe_device, resolve_device
from forensics_app.core.errors import CancelledError, ModelError, UsageError
from forensics_app.core.explain.spatial import FaceScores, score_faces
from forensics_app.core.explain.temporal import ClipScore, score_clip
from forensics_app.core.media import (
    VideoSource,
    check_evidence_file,
    hash_file,
    sample_indices,
)
from forensics_app.core.media.evidence import evidence_paths
from forensics_app.core.models.registry import DetectorModel, load_model

STAGES = ("hash", "open", "faces", "spatial", "temporal", "write")


@dataclass
class Progress:
    stage: str
    done: int
    total: int
    message: str
    elapsed_s: float = 0.0
    partial: dict = field(default_factory=dict)  # e.g. {"frame_scores": [...]} as they arrive

    @property
    def stage_index(self) -> int:
        return STAGES.index(self.stage)

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1], each stage weighted equally (good enough for a bar)."""
        within = self.done / self.total if self.total else 1.0
        return (self.stage_index + within) / len(STAGES)


def run_analysis(
    video: str | Path,
    out_dir: str | Path,
    settings: AnalysisSettings | None = None,
    model: DetectorModel | str | Path | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, ResultsBundle]:
    settings = settings or AnalysisSettings()
    settings.validate()
    video, out_dir = Path(video), Path(out_dir)
    check_evidence_file(video)
    check_output_folder(out_dir, video)
    # One writer per output folder from the first step to the sealed results.
    with OutputLock(out_dir) as lock:
        check_destination(out_dir)  # filled before the lock was ours
        return (yield from _analyse(video, out_dir, settings, model, cancel, lock))


def _analyse(video: Path, out_dir: Path, settings: AnalysisSettings,
             model: DetectorModel | str | Path | None, cancel: threading.Event | None,
             lock: OutputLock) -> Generator[Progress, None, ResultsBundle]:
    clock = _Clock(cancel)
    torch.manual_seed(settings.seed)

    yield clock.progress("hash", 0, 1, f"hashing {video.name}")
    hashes = hash_file(video, cancel=cancel)
    clock.lap("hash")
    yield clock.progress("hash", 1, 1, f"sha256 {hashes.sha256}")

    with VideoSource(video, stream=settings.stream) as source:
        info = source.info
        start, end = settings.segment or (0, info.frame_count)
        if end > info.frame_count:
            raise UsageError(f"--segment {start}:{end} goes beyond the clip "
                             f"({info.frame_count} frames)")
        sampled = sample_indices(info.frame_count, settings.frames, start, end)
        yield clock.progress("open", 1, 1, f"{info.width}×{info.height}, {info.frame_count} "
                             f"frames; sampling {len(sampled)}")
        if not isinstance(model, DetectorModel):  # a name, a folder, or None: the default
            model = load_model(model, resolve_device(settings.device))
        clock.lap("open")
        tracked = yield from _faces_stage(source, sampled, model, settings, clock)
        times = [source.timestamp(i) for i in sampled]
        decode_errors = source.decode_errors

    scores = yield from _spatial_stage(model, tracked, settings, clock)
    clips = yield from _temporal_stage(model, tracked, scores, clock)
    _require_finite(model, scores, clips)
    yield clock.progress("write", 0, 1, f"writing {out_dir}")
    resolved, opened_as = evidence_paths(video)
    evidence = Evidence(
        path=resolved, opened_as=opened_as, file_name=Path(resolved).name,
        sha256=hashes.sha256, md5=hashes.md5,
        size_bytes=hashes.size_bytes, container=info.container, codec=info.codec,
        width=info.width, height=info.height, fps=info.fps, frame_count=info.frame_count,
        duration_s=info.duration_s, rotation=info.rotation, is_still_image=info.is_still_image,
        stream=info.stream, video_streams=list(info.video_streams),
        frames_declared=info.frames_declared, frames_in_file=info.frames_in_file,
        decode_errors=decode_errors)
    bundle = _assemble(evidence, model, settings, sampled, times, tracked, scores, clips, out_dir,
                       clock)
    _qualify(bundle.results, info.integrity_warnings() + _decoder_warnings(evidence))
    clock.lap("assemble")
    write_results(out_dir, bundle.results, bundle.attention, bundle.face_maps, lock=lock)
    yield clock.progress("write", 1, 1, "done")
    return bundle


def _decoder_warnings(evidence: Evidence) -> list[str]:
    if not evidence.decode_errors:
        return []
    return [f"{evidence.decode_errors} packet(s) failed to decode or decoded as corrupt "
            "pictures on the way to the sampled frames: the file is damaged, and pictures "
            "(and scores) with it"]


def _qualify(results: Results, warnings: list[str]) -> None:
    """The warnings a verdict must be read with; while there are any, the verdict is never
    'confident' or better (damaged media, faces too small to judge)."""
    small = small_faces_reason(results.faces, results.prediction.decided_by_track)
    results.warnings = [*warnings, *([small] if small else []),
                        *outside_reasons(results.conditions)]
    results.prediction = cap_confidence(results.prediction, results.warnings)


def _require_finite(model: DetectorModel, scores: FaceScores | None,
                    clips: dict[int, ClipScore]) -> None:
    """Broken weights give NaN scores, which would read as a verdict: refuse them."""
    values = [] if scores is None else [scores.p_fake, *scores.maps.values()]
    values += [np.array([c.p_fake]) for c in clips.values()]
    values += [c.attention for c in clips.values()]
    if not all(np.isfinite(v).all() for v in values):
        raise ModelError("the model gives non-finite scores (NaN or infinity): its weights "
                         "are broken", model.folder or model.card.name)


class _Clock:
    """Elapsed time, per-stage timings and the cancellation check, in one place."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel
        self.start = self.mark = time.perf_counter()
        self.laps: dict[str, float] = {}

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise CancelledError("analysis cancelled")

    def progress(self, stage: str, done: int, total: int, message: str, **partial) -> Progress:
        self.check()
        return Progress(stage, done, total, message, time.perf_counter() - self.start, partial)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self.mark, 4)
        self.mark = now


def _faces_stage(source: VideoSource, sampled: list[int], model: DetectorModel,
                 settings: AnalysisSettings, clock: _Clock
                 ) -> Generator[Progress, None, TrackedFaces]:
    tracked = yield from detect_and_track(
        source, sampled, model.input_size, settings.detector, settings.min_face_score,
        settings.margin, lambda done, total: clock.progress(
            "faces", done, total, f"faces: frame {done}/{total}"))
    clock.lap("faces")
    return tracked


def _spatial_stage(model: DetectorModel, tracked: TrackedFaces, settings: AnalysisSettings,
                   clock: _Clock) -> Generator[Progress, None, FaceScores | None]:
    count = len(tracked.crops)
    if count == 0:
        clock.lap("spatial")
        return None
    batches = []
    for begin in range(0, count, settings.batch_size):
        crops = torch.from_numpy(np.stack(tracked.crops[begin:begin + settings.batch_size]))
        batches.append(score_faces(model, crops.permute(0, 3, 1, 2).contiguous()))
        done = min(begin + settings.batch_size, count)
        yield clock.progress("spatial", done, count, f"faces scored and explained {done}/{count}",
                             face_p_fake=np.concatenate([b.p_fake for b in batches]).tolist(),
                             face_frames=[frame for frame, _, _ in tracked.entries[:done]])
    clock.lap("spatial")
    return FaceScores(
        logits=np.concatenate([b.logits for b in batches]),
        p_fake=np.concatenate([b.p_fake for b in batches]),
        embeddings=torch.cat([b.embeddings for b in batches]),
        maps={m: np.concatenate([b.maps[m] for b in batches]) for m in EXPLAIN_METHODS},
    )


def _shots(tracked: TrackedFaces) -> list[tuple[int, list[int]]]:
    """(person, rows) for each shot each person is seen in, in person order."""
    return [(person, rows) for person in tracked.track_ids()
            for rows in tracked.segments_of(person)]


def _temporal_stage(model: DetectorModel, tracked: TrackedFaces, scores: FaceScores | None,
                    clock: _Clock) -> Generator[Progress, None, dict[int, ClipScore]]:
    """One temporal score per person and shot seen in at least two sampled frames, keyed by
    the index in `_shots`. A person's shots are scored apart: a cut inside one sequence would
    look to the temporal model like a splice."""
    clips: dict[int, ClipScore] = {}
    shots = _shots(tracked)
    for n, (person, rows) in enumerate(shots):
        if scores is not None and len(rows) >= 2:
            clips[n] = score_clip(model, scores.embeddings[rows])
        yield clock.progress("temporal", n + 1, len(shots),
                             f"identity {person}: {len(rows)} frames in this shot")
    clock.lap("temporal")
    return clips


def _assemble(evidence: Evidence, model: DetectorModel, settings: AnalysisSettings,
              sampled: list[int], times: list[float], tracked: TrackedFaces,
              scores: FaceScores | None, clips: dict[int, ClipScore], out_dir: Path,
              clock: _Clock) -> ResultsBundle:
    p_fake = scores.p_fake if scores is not None else np.zeros(0)
    faces = _faces_per_frame(sampled, tracked, p_fake)
    identities = _identities(model, tracked, p_fake, clips)
    prediction = decide(identities, model.card, len(sampled))
    views = _deciding_views(prediction, tracked, p_fake, clips, model)
    metrics = temporal_metrics(views.attention)
    token_frames = views.token_frames
    results = Results(
        evidence=evidence,
        tool=_tool_info(model),
        model=ModelInfo(**model.card.summary()),
        settings=RunSettings(
            **asdict(settings), model_device=str(model.device),
            face_detector=FaceDetectorInfo(**tracked.detector_settings)
            if tracked.detector_settings else None),
        sampled_frames=list(sampled),
        sampled_times_s=[round(t, 6) for t in times],
        faces=faces,
        frame_scores=[max((f.p_fake for f in frame), default=None) for frame in faces],
        identities=identities,
        prediction=prediction,
        attention_frames=token_frames,
        frame_relevancy=views.frame_relevancy,
        self_attention=metrics.self_attention.tolist(),
        attention_range=metrics.attention_range.tolist(),
        expected_range=metrics.expected_range.tolist(),
        unusual_frames=[token_frames[i] for i in metrics.unusual],
        indicators=indicators(metrics, token_frames, views.scores, views.score_frames,
                              model.card.threshold, model.card.indicator_rates,
                              _timed(tracked.picture_changes, sampled, times)),
        created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        timings_s=clock.laps,
        shot_cuts=tracked.shot_cuts,
        conditions=_conditions(tracked, prediction),
    )
    face_maps = _face_maps(tracked, scores)
    return ResultsBundle(results, views.attention, face_maps, out_dir)


def _conditions(tracked: TrackedFaces, prediction: Prediction) -> list[Condition]:
    """The deciding identity's faces against the conditions the model was validated on."""
    if prediction.decided_by_track is None or len(tracked.qualities) != len(tracked.entries):
        return []
    rows = tracked.rows_of(prediction.decided_by_track)
    boxes = [tracked.entries[r][2].box for r in rows]
    return check_conditions([tracked.qualities[r] for r in rows],
                            [float(min(b[2] - b[0], b[3] - b[1])) for b in boxes], len(rows),
                            MIN_FACE_PX)


def _timed(changes: list[tuple[int, float]], sampled: list[int], times: list[float]
           ) -> list[tuple[int, float, float]]:
    """TrackedFaces.picture_changes with each frame's time (its timestamp, so variable frame
    rates count right)."""
    time_of = dict(zip(sampled, times, strict=True))
    return [(frame, time_of[frame], change) for frame, change in changes if frame in time_of]


def _faces_per_frame(sampled: list[int], tracked: TrackedFaces, p_fake: np.ndarray
                     ) -> list[list[FaceBox]]:
    by_frame: dict[int, list[FaceBox]] = {f: [] for f in sampled}
    for row, (frame, track, detection) in enumerate(tracked.entries):
        by_frame[frame].append(FaceBox(
            track_id=track, box=[round(float(v), 2) for v in detection.box],
            score=round(float(detection.score), 4), p_fake=float(p_fake[row]),
            too_small=is_too_small(detection.box)))
    return [by_frame[f] for f in sampled]


def _identities(model: DetectorModel, tracked: TrackedFaces, p_fake: np.ndarray,
                clips: dict[int, ClipScore]) -> list[Identity]:
    """One identity per person: the mean of all its frame scores, and its shots' clip scores
    averaged by their frame counts, so no shot (or fragment) decides for the whole person."""
    shots = _shots(tracked)
    identities = []
    for track in tracked.track_ids():
        rows = tracked.rows_of(track)
        mine = [(n, part) for n, (person, part) in enumerate(shots) if person == track]
        scored = [(clips[n].p_fake, len(part)) for n, part in mine if n in clips]
        temporal = (float(np.average([p for p, _ in scored], weights=[w for _, w in scored]))
                    if scored else None)
        spatial = float(p_fake[rows].mean())
        identities.append(Identity(
            track_id=track, frames=[tracked.entries[r][0] for r in rows],
            p_fake_spatial=spatial, p_fake_temporal=temporal,
            p_fake=fuse(spatial, temporal, model.card.fusion),
            fragments=tracked.fragment_count(track),
            small_faces=sum(is_too_small(tracked.entries[r][2].box) for r in rows),
            shots=[_shot_summary(tracked, part, clips.get(n)) for n, part in mine]))
    return identities


def _shot_summary(tracked: TrackedFaces, rows: list[int], clip: ClipScore | None) -> Shot:
    frames = [tracked.entries[r][0] for r in rows]
    return Shot(first_frame=frames[0], last_frame=frames[-1], frames=len(frames),
                p_fake_temporal=None if clip is None else float(clip.p_fake),
                frame_relevancy=[] if clip is None else
                [round(float(v), 4) for v in clip.frame_relevancy])


def fuse(spatial: float, temporal: float | None, fusion: str) -> float:
    """An identity's score from its mean frame score and its clip score (card's `fusion`)."""
    if temporal is None or fusion == "spatial":
        return spatial
    if fusion == "temporal":
        return temporal
    return 0.5 * (spatial + temporal)


class _DecidingViews(NamedTuple):
    """What the per-frame views show: the identity that decided the verdict."""

    attention: np.ndarray  # (L, H, T, T); T = 0 without a clip score
    token_frames: list[int]  # video frame of each attention token
    scores: np.ndarray  # per-frame p_fake of that identity
    score_frames: list[int]  # the video frames of those scores
    frame_relevancy: list[float]


def _deciding_views(prediction: Prediction, tracked: TrackedFaces, p_fake: np.ndarray,
                    clips: dict[int, ClipScore], model: DetectorModel) -> _DecidingViews:
    cfg = model.temporal.config
    empty = np.zeros((cfg.depth, cfg.heads, 0, 0), np.float32)
    track = prediction.decided_by_track
    if track is None:
        return _DecidingViews(empty, [], np.zeros(0), [], [])
    rows = tracked.rows_of(track)
    frames = [tracked.entries[r][0] for r in rows]
    # The attention shown is that of the deciding person's longest scored shot.
    scored = [(len(part), n, part) for n, (person, part) in enumerate(_shots(tracked))
              if person == track and n in clips]
    if not scored:  # seen in one frame per shot only: no clip score, no attention
        return _DecidingViews(empty, [], p_fake[rows], frames, [])
    _, n, part = max(scored, key=lambda s: (s[0], -s[1]))
    clip = clips[n]
    return _DecidingViews(clip.attention, [tracked.entries[r][0] for r in part], p_fake[rows],
                          frames, clip.frame_relevancy.tolist())


def _face_maps(tracked: TrackedFaces, scores: FaceScores | None) -> FaceMaps:
    if scores is None:
        return FaceMaps.empty()
    return FaceMaps(
        frame_index=np.array([e[0] for e in tracked.entries], np.int64),
        track_id=np.array([e[1] for e in tracked.entries], np.int64),
        crop_box=np.stack(tracked.crop_boxes).astype(np.float32),
        maps=scores.maps,
    )


def _tool_info(model: DetectorModel) -> ToolInfo:
    return ToolInfo(name=TOOL_NAME, version=__version__, revision=source_revision(),
                    python=platform.python_version(), torch=torch.__version__,
                    device=describe_device(model.device),
                    platform=platform.platform(terse=True))


def source_revision() -> str:
    """The git commit of the running code, or 'unknown' outside a checkout."""
    root = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
