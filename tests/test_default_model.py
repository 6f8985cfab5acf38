"""The committed default model: it loads, matches its recorded SHA-256, its card is complete,
and it scores the shared DFDC fakes above the real clips held out of its training.

The DFDC clips are a test only: nothing in training or calibration saw them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from forensics_app.core.models.registry import (
    CARD_FILE,
    DEFAULT_MODEL,
    REPO_MODELS_DIR,
    WEIGHTS_FILE,
    load_model,
    read_card,
    sha256_file,
)

FOLDER = REPO_MODELS_DIR / DEFAULT_MODEL
FRAMES = 32  # per video: the engine default is 100; 32 keeps the suite fast

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return load_model(FOLDER, "cpu")


def test_default_model_files_and_hash():
    assert (FOLDER / WEIGHTS_FILE).exists() and (FOLDER / CARD_FILE).exists()
    card = read_card(FOLDER)
    assert card.name == DEFAULT_MODEL
    assert card.sha256 == sha256_file(FOLDER / WEIGHTS_FILE)
    assert (FOLDER / WEIGHTS_FILE).stat().st_size < 15e6
    raw = json.loads((FOLDER / CARD_FILE).read_text())
    assert raw["sha256"] == card.sha256


def test_default_model_card_is_complete():
    card = read_card(FOLDER)
    assert not card.placeholder
    assert card.version and card.description
    assert card.spatial["input_size"] % 32 == 0
    assert 0 < card.threshold < 1
    assert card.temperature_spatial > 0 and card.temperature_temporal > 0
    assert card.fusion in ("spatial", "temporal", "mean")
    for key in ("data", "command", "seed", "train_clips", "val_clips", "train_img_per_s",
                "inference_img_per_s"):
        assert key in card.training, key
    assert not set(card.training["train_clips"]) & set(card.training["val_clips"])
    assert card.metrics and len(card.limitations) >= 3
    assert (FOLDER / "MODEL_CARD.md").exists()


def test_default_model_loads_and_is_the_engines_default(model):
    assert model.card.name == DEFAULT_MODEL
    assert load_model(None, "cpu").card.sha256 == model.card.sha256
    summary = model.card.summary()
    assert summary["name"] == DEFAULT_MODEL and summary["version"] == model.card.version


@pytest.mark.shared
@pytest.mark.slow
def test_dfdc_fakes_score_above_held_out_real_clips(model, shared_data, tmp_path):
    from forensics_app.core.analysis.job import AnalysisSettings, run_analysis

    def video_score(path):
        job = run_analysis(path, tmp_path / path.stem, AnalysisSettings(frames=FRAMES,
                                                                         device="cpu"), model)
        try:
            while True:
                next(job)
        except StopIteration as stop:
            return stop.value.results.prediction.p_fake

    held_out = [shared_data / "videos" / "real" / f"{name}.mp4"
                for name in model.card.training["val_clips"]]
    fakes = sorted((shared_data / "videos" / "fake").glob("dfdc_*.mp4"))
    assert len(held_out) >= 3 and len(fakes) == 2
    real_scores = {p.stem: video_score(p) for p in held_out}
    fake_scores = {p.stem: video_score(p) for p in fakes}
    print("held-out real:", real_scores, "DFDC fake:", fake_scores)
    assert np.mean(list(fake_scores.values())) > np.mean(list(real_scores.values()))
