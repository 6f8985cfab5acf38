"""The analysis settings: one definition used by the CLI, the GUI and the report."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

from forensics_app.core.options import command_line, option, validate_options

DETECTORS = ("full", "short")
EXPLAIN_METHODS = ("relevancy", "rollout", "gradcam++")  # all stored; this one shown
MAX_FRAMES = 100  # the temporal model's longest sequence


def parse_segment(text: str) -> tuple[int, int]:
    try:
        start, end = (int(v) for v in text.split(":"))
    except ValueError as err:
        raise argparse.ArgumentTypeError("use START:END frame indices, e.g. 0:250") from err
    if not 0 <= start < end:
        raise argparse.ArgumentTypeError("need 0 <= START < END")
    return start, end


@dataclass
class AnalysisSettings:
    frames: int = option(100, f"frames sampled uniformly over the clip or segment, "
                         f"1-{MAX_FRAMES}", bounds=(1, MAX_FRAMES))
    segment: tuple[int, int] | None = option(
        None, "analyse only video frames START (inclusive) to END (exclusive)",
        metavar="START:END", parse=parse_segment, format=lambda s: f"{s[0]}:{s[1]}")
    explain: str = option("relevancy", "explanation shown by default; all three are stored",
                          choices=EXPLAIN_METHODS)
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    detector: str = option("full", "BlazeFace full-range (also finds small faces) or "
                           "short-range", choices=DETECTORS)
    min_face_score: float = option(0.5, "lowest face-detection score kept", flag=False,
                                   bounds=(0.0, 1.0))
    margin: float = option(0.3, "margin around each face crop", flag=False,
                           bounds=(0.0, 2.0))
    batch_size: int = option(32, "faces scored per batch", bounds=(1, 4096))
    stream: int = option(0, "video stream to analyse when the file holds several, numbered "
                         "from 0", bounds=(0, 1023), metavar="N")
    seed: int = option(0, "random seed", flag=False)

    def validate(self) -> None:
        validate_options(self)

    def command_line(self) -> list[str]:
        """The flags that reproduce these settings on `forensics-app analyze`."""
        return command_line(AnalysisSettings, asdict(self),
                            ("frames", "explain", "detector", "device", "batch_size",
                             "segment", "stream"))
