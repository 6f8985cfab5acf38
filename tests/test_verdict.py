"""Verdict rules, confidence bands, indicators and device choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forensics_app.core.analysis.job import fuse
from forensics_app.core.analysis.metrics import indicators, temporal_metrics
from forensics_app.core.analysis.results import Identity
from forensics_app.core.analysis.verdict import confidence_band, decide
from forensics_app.core.devices import available_devices, resolve_device
from forensics_app.core.errors import ForensicsError
from forensics_app.core.models.registry import ModelCard


def card(**kw) -> ModelCard:
    return ModelCard(name="m", version="1", spatial={}, temporal={}, **kw)


def ident(track: int, n_frames: int, p: float) -> Identity:
    return Identity(track, list(range(n_frames)), p, None, p)


@pytest.mark.parametrize(("confidence", "band"), [
    (0.99, "very confident"), (0.90, "very confident"), (0.89, "confident"), (0.75, "confident"),
    (0.6, "moderate"), (0.5, "moderate"), (0.3, "low")])
def test_confidence_bands(confidence, band):
    assert confidence_band(confidence) == band


def test_most_suspicious_identity_decides():
    pred = decide([ident(0, 50, 0.2), ident(1, 40, 0.93)], card(), 50)
    assert (pred.label, pred.decided_by_track, pred.band) == ("fake", 1, "very confident")
    assert pred.confidence == pytest.approx(0.93)
    assert "2 identities" in pred.reason


def test_glimpsed_face_cannot_outvote_a_face_seen_throughout():
    pred = decide([ident(0, 100, 0.1), ident(1, 2, 0.99)], card(), 100)
    assert (pred.label, pred.decided_by_track) == ("real", 0)
    assert pred.confidence == pytest.approx(0.9) and pred.band == "very confident"
    # ... unless it is the only face there is
    assert decide([ident(5, 2, 0.99)], card(), 100).decided_by_track == 5


def test_threshold_from_the_card_and_placeholder():
    assert decide([ident(0, 10, 0.3)], card(threshold=0.7), 10).label == "real"
    assert decide([ident(0, 10, 0.75)], card(threshold=0.7), 10).label == "fake"
    # p_fake 0.6 under a 0.7 threshold: "real" would contradict P(real) = 40 %
    assert decide([ident(0, 10, 0.6)], card(threshold=0.7), 10).label == "inconclusive"
    pred = decide([ident(0, 10, 0.99)], card(placeholder=True), 10)
    assert pred.label == "inconclusive" and "placeholder" in pred.reason
    none = decide([], card(), 10)
    assert none.label == "inconclusive" and none.p_fake is None and none.band == "none"


def test_fusion_rules():
    assert fuse(0.2, None, "mean") == 0.2
    assert fuse(0.2, 0.6, "mean") == pytest.approx(0.4)
    assert fuse(0.2, 0.6, "temporal") == 0.6 and fuse(0.2, 0.6, "spatial") == 0.2


def test_indicators_flag_collapsed_attention():
    t = 20
    focused = np.zeros((4, 8, t, t), np.float32)
    focused[..., 7] = 1.0  # every frame attends only to frame 7
    frames = list(range(0, 10 * t, 10))
    metrics = temporal_metrics(focused)
    rows = {i.name: i for i in indicators(metrics, frames, np.full(t, 0.9), frames, 0.5)}
    assert rows["attention_entropy"].triggered and rows["attention_entropy"].value < 0.01
    assert rows["attention_concentration"].triggered and rows["attention_concentration"].frames \
        == [70]
    assert not rows["diagonal_dominance"].triggered
    assert rows["frames_above_threshold"].triggered and len(rows["frames_above_threshold"]
                                                            .frames) == t
    assert "off_diagonal_mass" not in rows  # 1 − diagonal dominance: dropped as redundant
    # without measured trigger rates on the card nothing is a finding yet
    assert all(r.reference_only and not r.flagged for r in rows.values())


def test_indicators_are_findings_only_where_measured_rates_separate():
    t = 20
    focused = np.zeros((4, 8, t, t), np.float32)
    focused[..., 7] = 1.0
    frames = list(range(t))
    rates = {"attention_entropy": {"real": 0.0, "fake": 0.5},  # separates
             "attention_concentration": {"real": 0.4, "fake": 0.5}}  # does not
    rows = {i.name: i for i in indicators(temporal_metrics(focused), frames, np.full(t, 0.9),
                                          frames, 0.5, rates)}
    entropy, concentration = rows["attention_entropy"], rows["attention_concentration"]
    assert (entropy.rate_real, entropy.rate_fake) == (0.0, 0.5)
    assert entropy.triggered and not entropy.reference_only and entropy.flagged
    assert concentration.triggered and concentration.reference_only and not concentration.flagged
    assert rows["score_spread"].rate_real is None and rows["score_spread"].reference_only


def test_indicators_quiet_on_uniform_attention():
    t = 30
    uniform = np.full((4, 8, t, t), 1.0 / t, np.float32)
    frames = list(range(t))
    rows = {i.name: i for i in indicators(temporal_metrics(uniform), frames, np.full(t, 0.1),
                                          frames, 0.5)}
    quiet = {n: r for n, r in rows.items() if n != "unusual_frame_share"}
    assert not any(r.triggered for r in quiet.values())
    assert rows["attention_entropy"].value == pytest.approx(1.0)
    # The raw range's edge effect (the ends can only look one way) is compared away: evenly
    # spread attention marks no frame, ends included.
    assert rows["unusual_frame_share"].frames == [] and rows["unusual_frame_share"].value == 0


def test_devices():
    assert available_devices()[0] in ("cpu", "cuda:0")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ForensicsError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ForensicsError, match="unknown device"):
        resolve_device("tpu9")


def test_stated_label_never_contradicts_the_calibrated_probability():
    from forensics_app.core.analysis.results import Identity
    from forensics_app.core.analysis.verdict import decide
    from forensics_app.core.models.registry import ModelCard

    for threshold in (0.3, 0.5, 0.54, 0.7):
        card = ModelCard(name="m", version="1", spatial={}, temporal={}, threshold=threshold)
        for p in np.linspace(0.0, 1.0, 101):
            ident = Identity(track_id=0, frames=list(range(10)), p_fake_spatial=float(p),
                             p_fake_temporal=None, p_fake=float(p))
            pred = decide([ident], card, 10)
            if pred.label == "fake":
                assert pred.p_fake >= 0.5 and pred.confidence == pytest.approx(pred.p_fake)
            elif pred.label == "real":
                assert 1 - pred.p_fake >= 0.5
            else:
                assert pred.band == "low" and min(threshold, 0.5) <= p < max(threshold, 0.5)


def test_frozen_stretch_is_the_longest_time_one_picture_is_held():
    from forensics_app.core.analysis.metrics import FROZEN_SECONDS, REPEAT_DIFFERENCE
    from forensics_app.core.faces.shots import picture_difference

    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    rippled = still.copy()
    rippled[::16, ::16] ^= 1  # an encoder's ripple over a repeated frame
    assert picture_difference(still, still) == 0
    assert 0 < picture_difference(still, rippled) < REPEAT_DIFFERENCE
    assert picture_difference(still, rng.integers(0, 256, still.shape, dtype=np.uint8)) > 50
    assert picture_difference(still, still[:32]) == np.inf  # a resolution change mid-stream
    # sampled every 10 frames at 25 fps (0.4 s): frames 30-60 show one picture (1.2 s), 80
    # repeats 70 once (0.4 s: a frame-rate conversion's duplicate), 90 twice is one frame
    frames = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 90]
    held = {40, 50, 60, 80}
    changes = [(f, f / 25, float("nan") if i == 0 else 0.0 if f in held else 3.0)
               for i, f in enumerate(frames)]
    changes[-1] = (90, 90 / 25, 0.0)
    t = len(frames)
    uniform = temporal_metrics(np.full((4, 8, t, t), 1.0 / t, np.float32))

    def row(picture_changes):
        rows = {i.name: i for i in indicators(uniform, frames, np.full(t, 0.1), frames, 0.5,
                                              picture_changes=picture_changes)}
        return rows.get("frozen_stretch")

    frozen = row(changes)
    assert frozen.value == pytest.approx(1.2) and frozen.frames == [40, 50, 60]
    assert frozen.triggered and frozen.reference_only  # no measured rates: not a finding
    # the same repeats sampled twice as densely: each hold lasts half as long
    assert row([(f, time / 2, c) for f, time, c in changes]).value == pytest.approx(0.6)
    assert not row([(f, time / 2, c) for f, time, c in changes]).triggered
    assert FROZEN_SECONDS == 1.0
    # only isolated repeats: the longest hold is one interval
    isolated = [(f, time, 3.0 if f in (40, 50, 60) else c) for f, time, c in changes]
    assert row(isolated).value == pytest.approx(0.4) and row(isolated).frames == [80]
    # without the pictures' changes, or with one frame, there is nothing to compare
    assert row(None) is None and row([(5, 0.2, float("nan"))]) is None


def test_the_reason_shows_the_digits_that_decide():
    from forensics_app.core.analysis.verdict import deciding_digits

    shown = deciding_digits(0.4995, 0.5)
    assert len(shown) > 4 and float(shown) < 0.5, "the digits show it lies below"
    assert deciding_digits(0.73, 0.5) == "0.73"
    assert deciding_digits(0.5, 0.5) == "0.50"
    assert deciding_digits(0.500001, 0.5) == "0.500001"
