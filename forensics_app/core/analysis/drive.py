"""Driving the engine's job generators (an analysis, its faces stage, a batch) to their end."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

P = TypeVar("P")
R = TypeVar("R")


def run_to_end(job: Generator[P, None, R], on_step: Callable[[P], object] | None = None
               ) -> R:
    """Drive a job generator to its end; its return value. `on_step` sees every progress
    item on the way."""
    try:
        while True:
            step = next(job)
            if on_step is not None:
                on_step(step)
    except StopIteration as stop:
        return stop.value
