"""Analyses and case tasks off the GUI thread, on superqt workers.

`WorkerPool` queues `AnalysisJob`s and runs each as a superqt `GeneratorWorker` over the
`run_analysis` generator (one job per device at a time; each device keeps its model loaded
between jobs): every `Progress` the generator yields arrives on the GUI thread as a signal.
`TaskRunner` runs the blocking case operations (hashing evidence, writing a report) one after
another as superqt `FunctionWorker`s. Qt's thread pool owns the threads; nothing here polls.
Cancellation is the job's `threading.Event`, which `run_analysis` checks between steps (and
`hash_file` between blocks).
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import FunctionWorker, GeneratorWorker

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


def failure(err: BaseException) -> tuple[str, str]:
    """("cancelled", message) or ("failed", one-line message) of an exception.

    The analysis catches every exception itself, on the worker thread: superqt would swallow
    a RuntimeError (it takes one for a deleted worker), and a bug must not kill the app."""
    if isinstance(err, CancelledError):
        return "cancelled", str(err)
    if isinstance(err, ForensicsError):
        return "failed", str(err)
    traceback.print_exception(type(err), err, err.__traceback__)
    return "failed", f"internal error: {type(err).__name__}: {err}".splitlines()[0]


class _Worker:
    """What LIVE_THREADS needs of a started superqt worker (tests assert none is left)."""

    def __init__(self, name: str, worker: GeneratorWorker | FunctionWorker) -> None:
        self.name, self.worker, self.ended = name, worker, False
        worker.finished.connect(lambda: setattr(self, "ended", True))
        LIVE_THREADS.add(self)

    def objectName(self) -> str:
        return self.name

    def isRunning(self) -> bool:
        return not self.ended


def _pool() -> QThreadPool:
    return QThreadPool.globalInstance()


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
        self.jobs: list[AnalysisJob] = []
        self._busy_devices: dict[str, _Worker] = {}
        self._models: dict[str, tuple[object, DetectorModel]] = {}  # device → (spec, model)
        # one thread per device plus the case tasks, even on a one-core machine
        _pool().setMaxThreadCount(max(_pool().maxThreadCount(), len(self.devices) + 2))

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, job: AnalysisJob) -> AnalysisJob:
        self.jobs.append(job)
        self.jobQueued.emit(job)
        self._dispatch()
        return job

    def cancel(self, job: AnalysisJob) -> None:
        """Stop a running job at its next step; a queued one never starts."""
        job.cancel_event.set()
        if job.status == "queued":
            job.status, job.message = "cancelled", "analysis cancelled before it started"
            self.jobCancelled.emit(job)
            self._check_idle()

    def cancel_all(self) -> None:
        for job in self.active_jobs():
            self.cancel(job)

    def active_jobs(self) -> list[AnalysisJob]:
        return [j for j in self.jobs if j.status in ("queued", "running")]

    def running_jobs(self) -> list[AnalysisJob]:
        return [j for j in self.jobs if j.status == "running"]

    @property
    def busy(self) -> bool:
        return bool(self.active_jobs())

    def set_model(self, model_spec: str | Path | None) -> None:
        """Use another model for jobs that start from now on (reloaded lazily per device)."""
        self.model_spec = model_spec

    # -- running ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        for device in self.devices:
            queued = [j for j in self.jobs if j.status == "queued"]
            if not queued:
                return
            if device not in self._busy_devices:
                self._start(queued[0], device)

    def _start(self, job: AnalysisJob, device: str) -> None:
        job.status, job.device, job.started = "running", device, time.monotonic()
        worker = GeneratorWorker(self._steps, job, device)
        worker.yielded.connect(lambda p: self._on_progress(job, p))
        worker.returned.connect(lambda outcome: self._on_outcome(job, outcome))
        worker.finished.connect(lambda: self._on_worker_done(device))
        self._busy_devices[device] = _Worker(f"analysis-{device}-{job.name}", worker)
        self.jobStarted.emit(job)
        worker.start()

    def _steps(self, job: AnalysisJob, device: str
               ) -> Generator[Progress, None, tuple[str, Any]]:
        """On the worker thread: the analysis generator's progress, then its outcome as a
        value (see `outcome_of`); the results are read back from the folder, exactly as a
        reopened case loads them."""
        try:
            yield from run_analysis(job.video, job.out_dir, job.settings, self._model(device),
                                    job.cancel_event)
            return "done", read_results(job.out_dir)
        except Exception as err:  # each kind becomes its outcome, on this thread
            return failure(err)

    def _model(self, device: str) -> DetectorModel:
        spec = self.model_spec
        cached = self._models.get(device)
        if cached is None or cached[0] != spec:
            model = self.model_factory(device) if self.model_factory is not None \
                else load_model(spec, device)
            self._models[device] = cached = (spec, model)
        return cached[1]

    def _on_progress(self, job: AnalysisJob, p: Progress) -> None:
        job.progress = p
        self.jobProgress.emit(job, p)

    def _on_outcome(self, job: AnalysisJob, outcome: tuple[str, Any]) -> None:
        status, value = outcome
        job.status = status
        if status == "done":
            self.jobFinished.emit(job, value)
        elif status == "cancelled":
            job.message = value
            self.jobCancelled.emit(job)
        else:
            job.message = value
            self.jobFailed.emit(job, value)

    def _on_worker_done(self, device: str) -> None:
        self._busy_devices.pop(device, None)
        self._dispatch()
        self._check_idle()

    def _check_idle(self) -> None:
        if not self.busy:
            self.idle.emit()

    def shutdown(self, wait_ms: int = 30000) -> bool:
        """Cancel everything and wait for the running jobs; True if they all ended."""
        self.cancel_all()
        return _wait(lambda: not self._busy_devices or all(
            w.ended for w in self._busy_devices.values()), wait_ms)


def _wait(done: Callable[[], bool], timeout_ms: int) -> bool:
    """Block the GUI thread until `done()` (workers' signals are delivered meanwhile)."""
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_ms / 1000
    while not done() and time.monotonic() < deadline:
        _pool().waitForDone(20)
        QCoreApplication.processEvents()
    return done()


class BackgroundTask(QObject):
    """One blocking call (hashing evidence, writing a report) run off the GUI thread.

    `fn(cancel_event)` runs on a worker thread; `finished(result)` or `failed(exception)` is
    emitted on the GUI thread afterwards.
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
        self.worker: _Worker | None = None


class TaskRunner(QObject):
    """Runs `BackgroundTask`s one after another (in the order started, so their handlers see
    the case in that order), each as a superqt FunctionWorker.

    `busyChanged(label)` says what runs now ("" when idle), for a busy indicator.
    """

    busyChanged = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: list[BackgroundTask] = []
        self.current: BackgroundTask | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self._queue)

    def start(self, label: str, fn: Callable[[threading.Event], object]) -> BackgroundTask:
        task = BackgroundTask(label, fn, self)
        self._queue.append(task)
        if self.current is None:
            self._next()
        return task

    def _next(self) -> None:
        if not self._queue:
            self.busyChanged.emit("")
            return
        task = self.current = self._queue.pop(0)
        task.status = "running"

        def call() -> tuple[BaseException | None, object]:
            try:
                return None, task.fn(task.cancel_event)
            except BaseException as err:  # handed to the GUI thread, reported there
                return err, None

        worker = FunctionWorker(call)
        worker.returned.connect(lambda outcome: self._done(task, *outcome))
        task.worker = _Worker(f"task-{task.label}", worker)
        self.busyChanged.emit(task.label)
        worker.start()

    def _done(self, task: BackgroundTask, error: BaseException | None, result: object) -> None:
        if task is not self.current:  # shut down meanwhile
            return
        task.result, task.error = result, error
        task.status = "failed" if error is not None else "done"
        self.current = None  # its handlers see the runner free (they may start the next)
        if error is not None:
            task.failed.emit(error)
        else:
            task.finished.emit(result)
        if self.current is None:  # a handler may have started the next one already
            self._next()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every task has ended (handlers run); True when idle in time."""
        return _wait(lambda: not self.busy, timeout_ms)

    def shutdown(self, wait_ms: int = 30000) -> bool:
        """Cancel what can be cancelled, drop queued tasks, wait for the running one."""
        self._queue.clear()
        task, self.current = self.current, None
        if task is None:
            return True
        task.cancel_event.set()
        ok = _wait(lambda: task.worker is None or task.worker.ended, wait_ms)
        self.busyChanged.emit("")
        return ok
