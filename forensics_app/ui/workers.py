"""Analysis off the GUI thread: a queue of jobs and a pool of workers, one per device.

One worker thread per CUDA device (a CPU worker when there is none), each keeping its model
loaded between jobs. A worker runs the `run_analysis` generator, forwards every `Progress`
through a signal, and checks the job's cancel event between steps; when a job finishes, its
results are read back from the output folder with `read_results`, exactly as a reopened case
would load them.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from forensics_app.core.analysis.job import AnalysisSettings, Progress, run_analysis
from forensics_app.core.analysis.results import read_results
from forensics_app.core.devices import available_devices
from forensics_app.core.errors import CancelledError, ForensicsError
from forensics_app.core.models.registry import DetectorModel, load_model
from forensics_app.ui.frames import LIVE_THREADS

_ids = itertools.count(1)


@dataclass(eq=False)
class AnalysisJob:
    video: Path
    out_dir: Path
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    job_id: int = field(default_factory=lambda: next(_ids))
    status: str = "queued"  # queued | running | done | failed | cancelled
    device: str | None = None
    progress: Progress | None = None
    message: str = ""
    started: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return self.video.name

    def eta_s(self) -> float | None:
        """Remaining seconds, from the elapsed time and the overall fraction done."""
        p = self.progress
        if p is None or p.fraction <= 0.05 or p.elapsed_s <= 0:
            return None
        return p.elapsed_s * (1 - p.fraction) / p.fraction


class _Worker(QThread):
    """One device: takes jobs from the shared queue until told to stop."""

    def __init__(self, pool: WorkerPool, device: str) -> None:
        super().__init__()
        self.pool = pool
        self.device = device
        self.current: AnalysisJob | None = None
        self._model: DetectorModel | None = None
        self._model_key: object = None
        LIVE_THREADS.add(self)

    def run(self) -> None:
        while not self.pool._stopping.is_set():
            try:
                job = self.pool._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if job is None:  # shutdown sentinel
                return
            with self.pool._lock:
                if job.status != "queued":  # cancelled while it waited
                    continue
                job.status = "running"
            self.current = job
            try:
                self._run_job(job)
            finally:
                self.current = None
                self.pool._job_ended()

    def _run_job(self, job: AnalysisJob) -> None:
        job.device, job.started = self.device, time.monotonic()
        self.pool.jobStarted.emit(job)
        try:
            model = self._load_model()
            gen = run_analysis(job.video, job.out_dir, job.settings, model, job.cancel_event)
            while True:
                try:
                    progress = next(gen)
                except StopIteration:
                    break
                job.progress = progress
                self.pool.jobProgress.emit(job, progress)
            bundle = read_results(job.out_dir)
        except CancelledError:
            job.status, job.message = "cancelled", "analysis cancelled"
            self.pool.jobCancelled.emit(job)
            return
        except ForensicsError as err:
            job.status, job.message = "failed", str(err)
            self.pool.jobFailed.emit(job, str(err))
            return
        except Exception as err:  # a bug: keep the app alive, say what happened
            traceback.print_exc()
            job.status = "failed"
            job.message = f"internal error: {type(err).__name__}: {err}".splitlines()[0]
            self.pool.jobFailed.emit(job, job.message)
            return
        job.status = "done"
        self.pool.jobFinished.emit(job, bundle)

    def _load_model(self) -> DetectorModel:
        key = self.pool.model_spec
        if self._model is None or self._model_key != key:
            if self.pool.model_factory is not None:
                self._model = self.pool.model_factory(self.device)
            else:
                self._model = load_model(key, self.device)
            self._model_key = key
        return self._model


class WorkerPool(QObject):
    """Queue analyses; signals report each job's life. Call `shutdown()` before exit."""

    jobQueued = Signal(object)
    jobStarted = Signal(object)
    jobProgress = Signal(object, object)  # job, Progress
    jobFinished = Signal(object, object)  # job, ResultsBundle
    jobFailed = Signal(object, str)
    jobCancelled = Signal(object)
    idle = Signal()

    def __init__(self, parent: QObject | None = None, devices: list[str] | None = None,
                 model_spec: str | Path | None = None,
                 model_factory: Callable[[str], DetectorModel] | None = None) -> None:
        super().__init__(parent)
        self.devices = devices or available_devices()
        self.model_spec = model_spec  # a model folder or name; None: the default model
        self.model_factory = model_factory
        self._queue: queue.Queue[AnalysisJob | None] = queue.Queue()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0
        self.jobs: list[AnalysisJob] = []
        self._workers: list[_Worker] = []
        self.jobFinished.connect(self._check_idle)
        self.jobFailed.connect(self._check_idle)
        self.jobCancelled.connect(self._check_idle)

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, job: AnalysisJob) -> AnalysisJob:
        self._ensure_workers()
        with self._lock:
            self._pending += 1
        self.jobs.append(job)
        self._queue.put(job)
        self.jobQueued.emit(job)
        return job

    def cancel(self, job: AnalysisJob) -> None:
        """Stop a running job at its next step; a queued one never starts."""
        job.cancel_event.set()
        with self._lock:
            dequeued = job.status == "queued"
            if dequeued:
                job.status, job.message = "cancelled", "analysis cancelled before it started"
                self._pending -= 1
        if dequeued:
            self.jobCancelled.emit(job)

    def cancel_all(self) -> None:
        for job in self.active_jobs():
            self.cancel(job)

    def active_jobs(self) -> list[AnalysisJob]:
        return [j for j in self.jobs if j.status in ("queued", "running")]

    def running_jobs(self) -> list[AnalysisJob]:
        return [j for j in self.jobs if j.status == "running"]

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def set_model(self, model_spec: str | Path | None) -> None:
        """Use another model for jobs that start from now on (workers reload lazily)."""
        self.model_spec = model_spec

    # -- threads ---------------------------------------------------------------------------
    def _ensure_workers(self) -> None:
        if self._workers:
            return
        self._stopping.clear()
        for device in self.devices:
            worker = _Worker(self, device)
            worker.setObjectName(f"analysis-{device}")
            self._workers.append(worker)
            worker.start()

    def _job_ended(self) -> None:
        with self._lock:
            self._pending -= 1

    def _check_idle(self, *_args) -> None:
        if not self.busy:
            self.idle.emit()

    def shutdown(self, wait_ms: int = 30000) -> bool:
        """Cancel everything and stop the worker threads; True if they all ended."""
        self.cancel_all()
        self._stopping.set()
        for _ in self._workers:
            self._queue.put(None)
        ok = all(w.wait(wait_ms) for w in self._workers)
        self._workers = []
        return ok


class BackgroundTask(QObject):
    """One blocking call (hashing evidence, writing a report) run off the GUI thread.

    `fn(cancel_event)` runs on a worker thread; `finished(result)` or `failed(exception)` is
    emitted on the GUI thread afterwards. Tasks run one at a time, in the order started, so
    two of them never write the same case at once.
    """

    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, label: str, fn: Callable[[threading.Event], object],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.fn = fn
        self.cancel_event = threading.Event()
        self.status = "queued"  # queued | running | done | failed
        self.result: object = None
        self.error: BaseException | None = None


class _TaskThread:
    """A plain Python thread running one task, with the bits of the QThread API the window
    and tests use (`start`, `wait`, `isRunning`, `objectName`).

    It makes no Qt call at all (no QObject lives or emits on it): the runner polls it from
    the GUI thread, which also hands the outcome to the handlers in order, on the GUI thread.
    """

    def __init__(self, task: BackgroundTask, name: str) -> None:
        self.task = task
        self.outcome: tuple[object, BaseException | None] | None = None
        self._name = name
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        LIVE_THREADS.add(self)

    def objectName(self) -> str:  # QThread's names: LIVE_THREADS checks call them
        return self._name

    def isRunning(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_ms: int | None = None) -> bool:
        self._thread.join(None if timeout_ms is None else timeout_ms / 1000)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.outcome = (self.task.fn(self.task.cancel_event), None)
        except BaseException as err:  # handed to the GUI thread, reported there
            self.outcome = (None, err)


class TaskRunner(QObject):
    """Runs `BackgroundTask`s one after another, each on its own short-lived thread, and
    delivers their outcome on the GUI thread (polled every POLL_MS).

    `busyChanged(label)` says what runs now ("" when idle), for a busy indicator.
    """

    POLL_MS = 25
    busyChanged = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: list[BackgroundTask] = []
        self._thread: _TaskThread | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(self.POLL_MS)
        self._poll.timeout.connect(self._check)

    @property
    def busy(self) -> bool:
        return self._thread is not None or bool(self._queue)

    @property
    def current(self) -> BackgroundTask | None:
        return self._thread.task if self._thread is not None else None

    def start(self, label: str, fn: Callable[[threading.Event], object]) -> BackgroundTask:
        task = BackgroundTask(label, fn, self)
        self._queue.append(task)
        if self._thread is None:
            self._next()
        return task

    def _next(self) -> None:
        if not self._queue:
            self._poll.stop()
            self.busyChanged.emit("")
            return
        task = self._queue.pop(0)
        task.status = "running"
        self._thread = _TaskThread(task, f"task-{task.label}")
        self.busyChanged.emit(task.label)
        self._thread.start()
        self._poll.start()

    def _check(self) -> None:
        thread = self._thread
        if thread is None or thread.isRunning():
            return
        self._thread = None
        task = thread.task
        result, error = thread.outcome or (None, RuntimeError("task ended without an outcome"))
        task.result, task.error = result, error
        task.status = "failed" if error is not None else "done"
        if error is not None:
            task.failed.emit(error)
        else:
            task.finished.emit(result)
        if self._thread is None:  # a handler may have started the next one already
            self._next()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every task has ended (handlers run); True when idle in time."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self.busy and time.monotonic() < deadline:
            thread = self._thread
            if thread is not None:
                thread.wait(50)
            self._check()
        return not self.busy

    def shutdown(self, wait_ms: int = 30000) -> bool:
        """Cancel what can be cancelled, drop queued tasks, wait for the running one."""
        self._queue.clear()
        self._poll.stop()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.task.cancel_event.set()
        ok = thread.wait(wait_ms)
        self.busyChanged.emit("")
        return ok
