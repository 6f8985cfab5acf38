"""From identity scores to the clip's verdict: the most suspicious person decides.

An identity is one person (the tracker's fragments joined by appearance, core/faces/reid.py),
scored over all the frames it is seen in. The deciding rule: among the persons seen in at
least `MIN_DECIDING_FRAMES` and `MIN_DECIDING_SHARE` of the sampled frames, and, where any
such person has faces large enough to judge, among those, the one with the highest p_fake
decides. A person never decides by one of its fragments: its score is over all its frames.
"""

from __future__ import annotations

from dataclasses import replace

from forensics_app.core.analysis.results import FaceBox, Identity, Prediction
from forensics_app.core.models.registry import ModelCard

# Confidence bands (docs/DESIGN.md, "Verdict and confidence"): the probability of the stated label.
BANDS = ((0.90, "very confident"), (0.75, "confident"), (0.50, "moderate"), (0.0, "low"))
BAND_MEANINGS = {
    "very confident": "the model's calibrated probability for this label is at least 90 %",
    "confident": "the calibrated probability for this label is between 75 and 90 %",
    "moderate": "the calibrated probability for this label is between 50 and 75 %: weak evidence",
    "low": "the calibrated probability for this label is below 50 %: no usable evidence",
    "none": "no verdict was reached",
}
MIN_DECIDING_SHARE = 0.1  # an identity seen in fewer sampled frames than this cannot decide
MIN_DECIDING_FRAMES = 3


def confidence_band(confidence: float) -> str:
    return next(name for floor, name in BANDS if confidence >= floor)


def deciding_digits(p_fake: float, threshold: float) -> str:
    """p_fake with as many decimals as it takes to see which side of the threshold it lies
    (0.4995 against 0.50 is not "0.50 against 0.50"), two at least, six at most."""
    for digits in range(2, 7):
        shown = f"{p_fake:.{digits}f}"
        if shown != f"{threshold:.{digits}f}" or p_fake == threshold:
            return shown
    return f"{p_fake:.6f}"


def frames_needed(identities: list[Identity], sampled_count: int) -> int:
    """Sampled frames a person must be seen in to decide (fewer if no one is seen that often)."""
    needed = max(MIN_DECIDING_FRAMES, int(MIN_DECIDING_SHARE * sampled_count))
    return min(needed, max((len(i.frames) for i in identities), default=0))


def deciding_identities(identities: list[Identity], sampled_count: int) -> list[Identity]:
    """Persons who may decide: seen often enough (a face glimpsed in one frame, often a false
    detection, cannot outvote a face seen throughout, unless it is all there is), and with
    faces large enough to judge where anyone has them (a distant face scoring high must not
    outvote a near one the model can read)."""
    needed = frames_needed(identities, sampled_count)
    seen = [i for i in identities if len(i.frames) >= needed]
    return [i for i in seen if judgeable(i)] or seen


def judgeable(identity: Identity) -> bool:
    """At most `MAX_SMALL_SHARE` of the person's faces are too small to judge."""
    return identity.small_faces <= MAX_SMALL_SHARE * len(identity.frames)


def _others(identities: list[Identity], sampled_count: int, deciding: int) -> str:
    """The deciding rule in words, for the prediction's reason (empty for one identity)."""
    if len(identities) < 2:
        return ""
    needed = frames_needed(identities, sampled_count)
    sized = " with faces large enough to judge" if any(
        judgeable(i) for i in identities if len(i.frames) >= needed) else ""
    return (f" ({deciding} of {len(identities)} identities seen in at least {needed} sampled "
            f"frames{sized}; the most suspicious of them decides)")


def decide(identities: list[Identity], card: ModelCard, sampled_count: int) -> Prediction:
    if not identities:
        return Prediction("inconclusive", None, None, "none", card.threshold, None,
                          "no face was found in the sampled frames, so nothing was scored")
    deciding = deciding_identities(identities, sampled_count)
    top = max(deciding, key=lambda i: i.p_fake)
    label = "fake" if top.p_fake >= card.threshold else "real"
    confidence = top.p_fake if label == "fake" else 1.0 - top.p_fake
    band = confidence_band(confidence)
    others = _others(identities, sampled_count, len(deciding))
    if confidence < 0.5 and not card.placeholder:
        # A card threshold other than 0.5 leaves a gap where the threshold's label and the
        # calibrated probability disagree: say so instead of stating a label the probability
        # contradicts (docs/DESIGN.md, "Verdict and confidence").
        return Prediction("inconclusive", top.p_fake, max(confidence, 1 - confidence), "low",
                          card.threshold, top.track_id,
                          f"identity {top.track_id} scores p_fake "
                          f"{deciding_digits(top.p_fake, card.threshold)}, between the "
                          f"model's threshold {card.threshold:.2f} and 0.50: the threshold and "
                          f"the calibrated probability disagree, so no label is stated{others}")
    if card.placeholder:
        return Prediction("inconclusive", top.p_fake, confidence, "none", card.threshold,
                          top.track_id, "the model is an untrained placeholder: its scores "
                          "carry no meaning and no verdict is given" + others)
    reason = (f"identity {top.track_id} scores p_fake "
              f"{deciding_digits(top.p_fake, card.threshold)} against a threshold of "
              f"{card.threshold:.2f}: {label}, {band}{others}")
    return Prediction(label, top.p_fake, confidence, band, card.threshold, top.track_id, reason)


# A face whose box is smaller than this (its shorter side, in video pixels) is too small to
# judge: the crop is upscaled to the model's input from a few pixels of detail, and the score
# then reflects the scaling more than the face (README, "Limits", for how it was chosen).
MIN_FACE_PX = 64
# Share of the deciding identity's faces that may be too small before the verdict is capped.
MAX_SMALL_SHARE = 0.5
CAPPED_BANDS = ("very confident", "confident")  # what a cap brings down to "moderate"


def is_too_small(box: list[float]) -> bool:
    x0, y0, x1, y1 = box
    return min(x1 - x0, y1 - y0) < MIN_FACE_PX


def small_faces_reason(faces: list[list[FaceBox]], track: int | None) -> str | None:
    """Why the deciding identity's faces cannot back a confident verdict, or None."""
    mine = [f for frame in faces for f in frame if f.track_id == track]
    small = sum(f.too_small for f in mine)
    if not mine or small <= MAX_SMALL_SHARE * len(mine):
        return None
    return (f"{small} of the deciding identity's {len(mine)} faces are smaller than "
            f"{MIN_FACE_PX} px: too small to judge")


def cap_confidence(prediction: Prediction, reasons: list[str]) -> Prediction:
    """Never 'confident' or better while something undermines the score (damaged media,
    faces too small): the band becomes 'moderate' and the reasons are recorded."""
    if not reasons or prediction.label == "inconclusive":
        return prediction
    band = "moderate" if prediction.band in CAPPED_BANDS else prediction.band
    return replace(prediction, band=band, capped=list(reasons),
                   reason=f"{prediction.reason}; confidence capped at {band}: "
                   f"{'; '.join(reasons)}")
