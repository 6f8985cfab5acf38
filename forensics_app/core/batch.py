"""Whole-case batches: many evidence files → one results folder each, a summary table.

`run_batch` is a generator like `run_analysis`: it yields `BatchProgress` (the whole batch in
one view: finished items and the fraction of each one running) and returns the
`BatchSummary`. The CLI (`forensics-app batch`) and the GUI (File → Analyse folder…) both
drive it.

Layout of the batch folder:

    DIR/results/<name>/   one sealed results folder per evidence file (+ report.pdf)
    DIR/thumbs/<name>.jpg the frame that decided the verdict, its face boxed
    DIR/summary.csv       one row per evidence file: status, verdict, band, links, error
    DIR/index.html        the same as a page with thumbnails and links

- Resumable: an item whose results folder reads back (`read_results`: the seal, schema and
  consistency are verified) for the same evidence path is finished and never analysed
  again; only a missing report or thumbnail is made. Anything else in its place (an
  interrupted or damaged folder) is moved aside to `<name>.incomplete-N`, never deleted.
- Per-file errors never stop the batch: the item is marked failed with its one-line error
  (retried on the next run); a worker process that dies fails only the items it held.
- Workers: 1 runs in this process (on a thread: the model loads once); N > 1 runs N spawned
  processes, each with cpu_count/N torch threads; `ray_address` runs each item as a Ray
  task (the optional `ray` extra) on the cluster, whose nodes need forensics-app installed
  and the evidence and DIR on a path they all see. The same task function runs in every
  case, with the same settings and thread count, so the results are the same.
No Qt here: headless workers import only the core.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import html
import io
import json
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forensics_app.core.analysis.results import (
    RESULTS_FILE,
    ResultsBundle,
    atomic_write,
    read_results,
)
from forensics_app.core.errors import EvidenceError, ForensicsError, OutputError

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".wmv", ".flv", ".3gp", ".3g2", ".ogv", ".mxf", ".dv", ".h264", ".hevc",
})
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
RESULTS_DIR, THUMBS_DIR = "results", "thumbs"
SUMMARY_CSV, INDEX_HTML, REPORT_NAME = "summary.csv", "index.html", "report.pdf"
THUMB_WIDTH = 240
CSV_FIELDS = ("name", "evidence", "status", "verdict", "p_fake", "threshold", "confidence",
              "band", "frames_analysed", "sha256", "model", "seconds", "result", "report",
              "thumbnail", "error")


# ---- inputs and plan ----------------------------------------------------------------------


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Evidence files from folders (searched recursively for video files), list files
    (.txt/.lst/.list: one path per line, # comments, relative to the list) and files.

    A missing input or an empty result is an EvidenceError; a missing file named in a list
    is kept (it fails on its own, in the summary). Order: as given, duplicates dropped.
    """
    found: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            found += _read_list(path)
        elif path.exists():
            found.append(path)
        else:
            raise EvidenceError("batch input not found", path)
    unique = list(dict.fromkeys(p.absolute() for p in found))
    if not unique:
        raise EvidenceError("no video files found in the batch inputs",
                            ", ".join(str(i) for i in inputs))
    return unique


def _read_list(path: Path) -> list[Path]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise EvidenceError(f"cannot read the list file ({err})", path) from err
    entries = [line.strip() for line in lines]
    return [path.parent / e for e in entries if e and not e.startswith("#")]


@dataclass(frozen=True)
class BatchTask:
    """One evidence file's work: picklable, so it travels to a process or a Ray node."""

    name: str
    video: str
    folder: str  # the results folder
    thumb: str
    report: str | None  # report PDF to write, None: no report
    settings: dict[str, Any]  # AnalysisSettings as a dict
    model: str | None  # model name or folder, None: the default model
    threads: int  # torch threads for this task


@dataclass
class BatchItem:
    task: BatchTask
    status: str = "pending"  # pending | running | done | skipped | failed
    error: str | None = None
    seconds: float | None = None
    bundle: ResultsBundle | None = None

    @property
    def name(self) -> str:
        return self.task.name


def plan_batch(videos: Sequence[Path], out_dir: Path, settings: dict[str, Any],
               model: str | None = None, reports: bool = True, workers: int = 1
               ) -> list[BatchItem]:
    """One item per video; names are the file stems (a short path hash where they clash),
    stable across runs, so a rerun finds its finished results. An `out_dir` in or under an
    evidence folder is refused up front (every analysis would refuse it)."""
    from forensics_app.core.media.evidence import beside_evidence

    for video in videos:
        if video.exists() and beside_evidence(out_dir, video):
            raise OutputError(f"the batch folder is in or under the folder of {video}; "
                              "results never go beside the evidence: choose another --out",
                              out_dir)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    taken: set[str] = set()
    items = []
    for video in videos:
        name = _name_for(video, out_dir, taken)
        taken.add(name)
        folder = out_dir / RESULTS_DIR / name
        items.append(BatchItem(BatchTask(
            name=name, video=str(video), folder=str(folder),
            thumb=str(out_dir / THUMBS_DIR / f"{name}.jpg"),
            report=str(folder / REPORT_NAME) if reports else None,
            settings=dict(settings), model=model, threads=threads)))
    return items


def _name_for(video: Path, out_dir: Path, taken: set[str]) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in video.stem) or "video"
    folder = out_dir / RESULTS_DIR / stem
    if stem not in taken and (not folder.exists() or _claimed_by(folder) == str(video.resolve())):
        return stem
    digest = hashlib.sha1(str(video.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}"


def _claimed_by(folder: Path) -> str | None:
    """The evidence path a results folder says it is about, read without verification: a
    damaged result of this very file keeps its name (and is redone), another file's does not."""
    try:
        data = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
        return str(data["evidence"]["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _finished_for(folder: Path, video: Path) -> ResultsBundle | None:
    """The folder's results if they read back (seal verified) and are of this evidence."""
    try:
        bundle = read_results(folder)
    except ForensicsError:
        return None
    return bundle if bundle.results.evidence.path == str(video.resolve()) else None


# ---- the task (runs in a worker: thread, process or Ray node) ------------------------------

_PROGRESS: Any = None  # the queue a worker reports (name, fraction, message) to
_CANCEL = threading.Event()  # stops the in-process worker's analysis between steps
_MODELS: dict[tuple[str | None, str], Any] = {}  # loaded once per worker process


def _init_worker(progress: Any) -> None:
    global _PROGRESS
    _PROGRESS = progress


def analyse_task(task: BatchTask) -> dict[str, Any]:
    """Analyse one file (+ report + thumbnail); never raises for a per-file problem."""
    start = time.perf_counter()
    try:
        _analyse(task)
    except ForensicsError as err:
        return {"status": "failed", "error": str(err), "seconds": _since(start)}
    except Exception as err:  # a bug on one file must not stop the other files
        return {"status": "failed", "error": f"internal error: {type(err).__name__}: {err}",
                "seconds": _since(start)}
    return {"status": "done", "error": None, "seconds": _since(start)}


def _analyse(task: BatchTask) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)  # the same in every kind of worker: same results
    try:
        _analyse_with(task)
    finally:
        torch.set_num_threads(threads)  # a worker thread of the GUI or a test shares it


def _analyse_with(task: BatchTask) -> None:
    from forensics_app.core.analysis.drive import run_to_end
    from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
    from forensics_app.core.devices import resolve_device
    from forensics_app.core.models.registry import load_model

    settings = AnalysisSettings(**task.settings)
    settings.validate()
    key = (task.model, settings.device)
    if key not in _MODELS:
        _MODELS[key] = load_model(task.model, resolve_device(settings.device))
    job = run_analysis(task.video, task.folder, settings, _MODELS[key], _CANCEL)
    bundle = run_to_end(job, lambda p: _report_progress(task.name, p.fraction,
                                                         f"{p.stage}: {p.message}"))
    finish_products(task, bundle)


def _report_progress(name: str, fraction: float, message: str) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put((name, fraction, message))


def finish_products(task: BatchTask, bundle: ResultsBundle) -> None:
    """The report and the thumbnail of a finished item, where they are missing."""
    if task.report is not None and not Path(task.report).exists():
        from forensics_app.core.report import export_report

        export_report(task.folder, task.report)
    if not Path(task.thumb).exists():
        write_thumbnail(bundle, Path(task.video), Path(task.thumb))


def write_thumbnail(bundle: ResultsBundle, video: Path, path: Path) -> None:
    """The sampled frame whose face scored highest (the deciding identity's if any), boxed."""
    from PIL import Image, ImageDraw

    from forensics_app.core.media import VideoSource

    r = bundle.results
    frame, box, p_fake = _thumbnail_frame(bundle)
    with VideoSource(video, cache_size=0) as source:
        image = Image.fromarray(source.frame(frame))
    if box is not None:
        fake = p_fake is not None and p_fake >= r.prediction.threshold
        width = max(2, image.width // 200)
        ImageDraw.Draw(image).rectangle(box, outline=(229, 57, 53) if fake else (67, 160, 71),
                                        width=width)
    image.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 4))
    path.parent.mkdir(parents=True, exist_ok=True)
    data = io.BytesIO()
    image.save(data, format="JPEG", quality=85)
    atomic_write(path, lambda p: p.write_bytes(data.getvalue()))


def _thumbnail_frame(bundle: ResultsBundle) -> tuple[int, list[float] | None, float | None]:
    r = bundle.results
    decider = r.prediction.decided_by_track
    best: tuple[float, int, list[float], float | None] | None = None
    for frame, faces in zip(r.sampled_frames, r.faces, strict=True):
        for face in faces:
            if decider is not None and face.track_id != decider:
                continue
            score = -1.0 if face.p_fake is None else face.p_fake
            if best is None or score > best[0]:
                best = (score, frame, list(face.box), face.p_fake)
    if best is None:
        return r.sampled_frames[len(r.sampled_frames) // 2], None, None
    return best[1], best[2], best[3]


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 2)


# ---- running ------------------------------------------------------------------------------


@dataclass
class BatchProgress:
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    running: dict[str, tuple[float, str]] = field(default_factory=dict)  # name → fraction, msg
    event: str | None = None  # "done" | "skipped" | "failed" for the item just finished
    item: BatchItem | None = None  # that item
    elapsed_s: float = 0.0

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def fraction(self) -> float:
        if not self.total:
            return 1.0
        return (self.finished + sum(f for f, _ in self.running.values())) / self.total


@dataclass
class BatchSummary:
    items: list[BatchItem]
    csv_path: Path
    html_path: Path
    elapsed_s: float

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)


def run_batch(
    items: list[BatchItem],
    out_dir: Path,
    workers: int = 1,
    ray_address: str | None = None,
    cancel: threading.Event | None = None,
) -> Generator[BatchProgress, None, BatchSummary]:
    """Run the planned items (finished ones skipped), then write the summary."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    progress = BatchProgress(total=len(items))
    todo = []
    for item in items:
        bundle = _finished_for(Path(item.task.folder), Path(item.task.video))
        if bundle is None:
            _move_aside(Path(item.task.folder))
            todo.append(item)
            continue
        item.status, item.bundle = "skipped", bundle
        try:
            finish_products(item.task, bundle)
        except Exception as err:  # a missing report or thumbnail never stops the batch
            item.error = f"finished before; report or thumbnail failed: {err}"
        progress.skipped += 1
        yield _event(progress, "skipped", item, start)
    by_name = {item.name: item for item in todo}
    runner = _run_ray(todo, ray_address) if ray_address else _run_local(todo, workers)
    try:
        for kind, name, payload in runner:
            if cancel is not None and cancel.is_set():
                break
            if kind == "progress":
                progress.running[name] = payload
                progress.elapsed_s = _since(start)
                yield progress
                continue
            item = by_name[name]
            progress.running.pop(name, None)
            item.status, item.error, item.seconds = \
                payload["status"], payload["error"], payload["seconds"]
            if item.status == "done":
                item.bundle = _finished_for(Path(item.task.folder), Path(item.task.video))
                if item.bundle is None:  # written, but does not read back: not finished
                    item.status, item.error = "failed", "results do not read back"
            setattr(progress, item.status, getattr(progress, item.status) + 1)
            yield _event(progress, item.status, item, start)
    finally:
        runner.close()
    csv_path, html_path = write_summary(out_dir, items)
    return BatchSummary(items, csv_path, html_path, _since(start))


def _event(progress: BatchProgress, kind: str, item: BatchItem, start: float) -> BatchProgress:
    progress.event, progress.item, progress.elapsed_s = kind, item, _since(start)
    return progress


def _move_aside(folder: Path) -> None:
    """An unfinished results folder is kept for inspection, out of the new analysis' way."""
    if not folder.exists():
        return
    n = 1
    while (aside := folder.with_name(f"{folder.name}.incomplete-{n}")).exists():
        n += 1
    folder.rename(aside)


_Event = tuple[str, str, Any]  # ("progress", name, (fraction, message)) | ("result", name, dict)


def _run_local(items: list[BatchItem], workers: int) -> Iterator[_Event]:
    if not items:
        return
    if workers <= 1:
        progress_q: Any = queue.Queue()
        _init_worker(progress_q)
        _CANCEL.clear()
        pool: cf.Executor = cf.ThreadPoolExecutor(1, thread_name_prefix="batch")
        make_pool: Callable[[], cf.Executor] = lambda: pool  # noqa: E731
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        progress_q = ctx.Queue()

        def make_pool() -> cf.Executor:
            return cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                          initargs=(progress_q,))
        pool = make_pool()
    pending = list(items)
    running: dict[cf.Future, BatchItem] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                item = pending.pop(0)
                running[pool.submit(analyse_task, item.task)] = item
            done, _ = cf.wait(running, timeout=0.25, return_when=cf.FIRST_COMPLETED)
            yield from _drain(progress_q)
            broken = False
            for future in done:
                item = running.pop(future)
                try:
                    outcome = future.result()
                except cf.process.BrokenProcessPool:
                    broken = True
                    outcome = {"status": "failed", "seconds": None,
                               "error": "the worker process died (crash or out of memory)"}
                yield ("result", item.name, outcome)
            if broken:  # every future of a broken pool fails; start a fresh one
                for future, item in list(running.items()):
                    running.pop(future)
                    pending.insert(0, item)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = make_pool()
    finally:
        if workers <= 1 and running:
            _CANCEL.set()  # closed early (cancelled): stop the analysis in flight
        pool.shutdown(wait=True, cancel_futures=True)
        if workers <= 1:
            _init_worker(None)


def _drain(progress_q: Any) -> Iterator[_Event]:
    while True:
        try:
            name, fraction, message = progress_q.get_nowait()
        except queue.Empty:
            return
        yield ("progress", name, (fraction, message))


def _run_ray(items: list[BatchItem], address: str) -> Iterator[_Event]:
    try:
        import ray
    except ImportError as err:
        raise ForensicsError("--ray needs the ray extra: pip install 'forensics-app[ray]'") \
            from err
    if not items:
        return
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise ForensicsError(f"cannot connect to the Ray cluster at {address} ({err})") \
                from err
    try:
        remote = ray.remote(analyse_task)
        refs = {remote.options(num_cpus=item.task.threads).remote(item.task): item
                for item in items}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in ready:
                item = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as err:  # the worker died, the node went away
                    outcome = {"status": "failed", "seconds": None,
                               "error": f"Ray task failed ({type(err).__name__})"}
                yield ("result", item.name, outcome)
    finally:
        if started:
            ray.shutdown()


# ---- summary ------------------------------------------------------------------------------


def summary_rows(items: Sequence[BatchItem], out_dir: Path) -> list[dict[str, Any]]:
    """One row per item (CSV_FIELDS); paths relative to the batch folder."""
    rows = []
    for item in items:
        t = item.task
        row: dict[str, Any] = dict.fromkeys(CSV_FIELDS, "")
        row.update(name=t.name, evidence=t.video, status=item.status, error=item.error or "",
                   seconds="" if item.seconds is None else item.seconds)
        if item.bundle is not None:
            r = item.bundle.results
            pred = r.prediction
            row.update(
                verdict=pred.label,
                p_fake="" if pred.p_fake is None else f"{pred.p_fake:.4f}",
                threshold=f"{pred.threshold:.4f}",
                confidence="" if pred.confidence is None else f"{pred.confidence:.4f}",
                band=pred.band, frames_analysed=len(r.sampled_frames), sha256=r.evidence.sha256,
                model=f"{r.model.name} {r.model.version}",
                result=_rel(Path(t.folder) / "results.json", out_dir))
            for key, path in (("report", t.report), ("thumbnail", t.thumb)):
                if path and Path(path).exists():
                    row[key] = _rel(Path(path), out_dir)
        rows.append(row)
    return rows


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def write_summary(out_dir: Path, items: Sequence[BatchItem]) -> tuple[Path, Path]:
    rows = summary_rows(items, out_dir)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    csv_path, html_path = out_dir / SUMMARY_CSV, out_dir / INDEX_HTML
    atomic_write(csv_path, lambda p: p.write_text(text.getvalue(), encoding="utf-8"))
    page = _html(rows)
    atomic_write(html_path, lambda p: p.write_text(page, encoding="utf-8"))
    return csv_path, html_path


_COLOURS = {"fake": "#c62828", "real": "#2e7d32", "inconclusive": "#757575"}


def _html(rows: list[dict[str, Any]]) -> str:
    e = html.escape
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("done", "skipped", "failed")}
    verdicts = {v: sum(1 for r in rows if r["verdict"] == v) for v in _COLOURS}
    body = []
    for r in rows:
        thumb = f'<img src="{e(r["thumbnail"])}" alt="">' if r["thumbnail"] else ""
        verdict = (f'<b style="color:{_COLOURS.get(r["verdict"], "#000")}">'
                   f'{e(r["verdict"].upper())}</b>') if r["verdict"] else ""
        links = " · ".join(f'<a href="{e(r[k])}">{k}</a>' for k in ("result", "report") if r[k])
        body.append(
            f"<tr><td>{thumb}</td><td>{e(r['name'])}<br><small>{e(r['evidence'])}</small></td>"
            f"<td>{verdict}</td><td>{e(str(r['p_fake']))}</td><td>{e(r['band'])}</td>"
            f"<td>{e(str(r['frames_analysed']))}</td><td>{e(r['status'])}</td>"
            f"<td>{links}</td><td class=err>{e(r['error'])}</td></tr>")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>forensics-app batch</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
img{{width:{THUMB_WIDTH}px}} .err{{color:#c62828;max-width:30em}}</style></head><body>
<h1>Batch summary</h1>
<p>{len(rows)} files: {counts['done']} analysed, {counts['skipped']} finished before,
{counts['failed']} failed. Verdicts: {verdicts['fake']} fake, {verdicts['real']} real,
{verdicts['inconclusive']} inconclusive. Generated {generated}.</p>
<p>A verdict is one piece of evidence; attention maps show where the model looked, not proof
of manipulation.</p>
<table><tr><th>frame</th><th>file</th><th>verdict</th><th>p_fake</th><th>band</th>
<th>frames</th><th>status</th><th>links</th><th>error</th></tr>
{chr(10).join(body)}
</table></body></html>
"""


def settings_dict(settings: Any) -> dict[str, Any]:
    """AnalysisSettings → the plain dict a BatchTask carries."""
    data = asdict(settings)
    if data.get("segment") is not None:
        data["segment"] = tuple(data["segment"])
    return data
