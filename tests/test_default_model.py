"""The committed default model: it loads, matches its recorded SHA-256, its card is complete,
and it scores the shared DFDC fakes above the real clips held out of its training.

The DFDC clips are a test only: nothing in training or calibration saw them.
"""

from __future__ import annotations

import json

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
    # The readable card opens with the held-out figures built from model_card.json itself:
    # the two cannot disagree.
    from forensics_app.core.train.publish import (
        RELIABILITY_FILE,
        folder_markdown,
        headline_markdown,
    )

    text = (FOLDER / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {card.name} {card.version}\n")
    assert headline_markdown(card) in text and card.sha256 in text
    assert text == folder_markdown(FOLDER), "MODEL_CARD.md is stale: publish.write_markdown"
    assert (FOLDER / RELIABILITY_FILE).exists() and f"]({RELIABILITY_FILE})" in text
    assert card.indicator_rates, "indicator rates not measured: bench/indicator_rates.py"


def test_default_model_cards_measured_limitations_quote_its_own_figures():
    from forensics_app.core.train.publish import measured_limitations, measured_sha256

    card = read_card(FOLDER)
    drawn = measured_limitations(card.metrics)
    assert drawn and all(line in card.limitations for line in drawn)
    assert any("mouth and jaw" in line for line in drawn), "bench/sbi_strata.py, publish --amend"
    named = {measured_sha256(figures) for figures in card.metrics.values()} - {None}
    assert named == {card.sha256}, "figures of another model in the card"


def test_default_model_loads_and_is_the_engines_default(model):
    assert model.card.name == DEFAULT_MODEL
    assert load_model(None, "cpu").card.sha256 == model.card.sha256
    summary = model.card.summary()
    assert summary["name"] == DEFAULT_MODEL and summary["version"] == model.card.version


@pytest.mark.shared
@pytest.mark.slow
def test_default_model_reproduces_its_cards_shared_video_figures(model, shared_data, tmp_path):
    """Every shared video the model did not train on, analysed by the engine at the card's
    frame count: the same p_fake as the card records (to 0.02) and the same label."""
    from forensics_app.core.analysis.drive import run_to_end
    from forensics_app.core.analysis.job import AnalysisSettings, run_analysis

    recorded = model.card.metrics["shared_videos"]
    frames = recorded["frames"]
    assert recorded["videos"], "the card lists the shared videos it was measured on"
    trained = set(model.card.training["train_clips"])
    for name, expected in recorded["videos"].items():
        assert name not in trained
        path = shared_data / expected["path"]
        job = run_analysis(path, tmp_path / name, AnalysisSettings(frames=frames, device="cpu"),
                           model)
        prediction = run_to_end(job).results.prediction
        print(name, expected, prediction.p_fake, prediction.label)
        assert prediction.p_fake == pytest.approx(expected["p_fake"], abs=0.02), name
        assert prediction.label == expected["label"], name
