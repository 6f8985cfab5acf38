"""Identities are people: re-identification, the per-person verdict, and the annotated truth.

Ground truth for the shared multi-person media lies in tests/ground_truth/*.json (annotated
by hand from extracted frames); the shared-data tests run the faces stage exactly as
`analyze` does and compare its identities with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forensics_app.core.analysis.results import Identity
from forensics_app.core.analysis.verdict import decide, deciding_identities
from forensics_app.core.faces.groundtruth import (
    evaluate_identities,
    load_ground_truth,
    match_faces,
)
from forensics_app.core.faces.reid import (
    Fragment,
    appearance,
    appearance_distance,
    fragments_from_rows,
    link_fragments,
)
from forensics_app.core.models.registry import ModelCard

TRUTH = Path(__file__).parent / "ground_truth"


def _hist(values: list[float]) -> np.ndarray:
    h = np.asarray(values, np.float64)
    return h / h.sum()


def _fragment(fid: int, frames: range | list[int], descriptor: np.ndarray) -> Fragment:
    return Fragment(fid, frozenset(frames), descriptor)


# --------------------------------------------------------------------------- re-identification


def test_fragments_of_one_look_join_and_people_seen_together_never_merge():
    red, blue = _hist([8, 1, 1]), _hist([1, 1, 8])
    fragments = [
        _fragment(10, range(0, 5), red),      # person A, first shot
        _fragment(11, range(0, 5), red),      # a second face in the same frames, same colours
        _fragment(12, range(8, 12), blue),    # person B
        _fragment(13, range(20, 30), red),    # A again after a cut
    ]
    person = link_fragments(fragments)
    assert person[10] == person[13], "one look, never on screen together: one person"
    assert person[10] != person[11], "on screen together: two people, whatever they look like"
    assert person[12] not in (person[10], person[11])
    assert len(set(person.values())) == 3
    assert person[10] == 0, "ids are numbered by first appearance"


def test_a_merge_that_would_put_two_faces_of_one_frame_together_is_refused():
    look = _hist([1, 1, 1])
    # 0 and 1 share frame 3; 2 could join either, but once it joins one the other is barred.
    fragments = [_fragment(0, [1, 2, 3], look), _fragment(1, [3, 4], look),
                 _fragment(2, [9], look)]
    person = link_fragments(fragments)
    assert person[0] != person[1]
    assert len(set(person.values())) == 2


def test_appearance_of_a_crop_ignores_the_margin_and_separates_colours():
    skin = np.zeros((224, 224, 3), np.uint8)
    skin[:] = (200, 150, 120)
    darker = np.full_like(skin, (100, 75, 60))  # the same skin in dimmer light
    other = np.full_like(skin, (120, 150, 200))  # another hue
    noisy_margin = skin.copy()
    noisy_margin[:30] = (0, 255, 0)  # the margin (background) differs, the face does not
    assert appearance_distance(appearance(skin), appearance(noisy_margin)) < 1e-9
    assert appearance_distance(appearance(skin), appearance(darker)) < 1e-9, "hue, saturation"
    assert appearance_distance(appearance(skin), appearance(other)) > 0.5
    assert appearance(skin).sum() == pytest.approx(1.0)


def test_fragments_from_rows_average_their_faces():
    a, b = _hist([1, 0, 0]), _hist([0, 1, 0])
    fragments = fragments_from_rows([0, 0, 1], [5, 6, 5], [a, b, b])
    assert [f.id for f in fragments] == [5, 6]
    assert fragments[0].frames == {0, 1}
    np.testing.assert_allclose(fragments[0].descriptor, (a + b) / 2)


# --------------------------------------------------------------------------- per-person verdict


def _identity(track: int, frames: int, p_fake: float, small: int = 0) -> Identity:
    return Identity(track, list(range(frames)), p_fake, None, p_fake, small_faces=small)


def test_a_glimpse_does_not_decide_and_the_rule_is_stated():
    card = ModelCard(name="m", version="1", spatial={}, temporal={}, threshold=0.5)
    people = [_identity(0, 60, 0.1), _identity(1, 1, 0.99)]
    prediction = decide(people, card, 100)
    assert prediction.decided_by_track == 0 and prediction.label == "real"
    assert "seen in at least 10 sampled frames" in prediction.reason
    assert "the most suspicious of them decides" in prediction.reason


def test_a_person_whose_faces_are_too_small_does_not_outvote_one_the_model_can_read():
    near, far = _identity(0, 40, 0.2), _identity(1, 40, 0.95, small=40)
    assert deciding_identities([near, far], 100) == [near]
    # Only small faces: they still decide (there is nothing else), the cap then applies.
    assert deciding_identities([far], 100) == [far]


# --------------------------------------------------------------------------- ground truth


def test_every_ground_truth_file_loads_and_names_its_media():
    files = sorted(TRUTH.glob("*.json"))
    assert {f.stem for f in files} >= {"two_faces_hamilton", "two_people", "dfdc_abofeumbvv",
                                       "dfdc_abqwwspghj"}
    for path in files:
        truth = load_ground_truth(path)
        assert truth.people and truth.frame_count > 0, path
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert raw["annotated_by"], "say how it was annotated"
        for person in truth.people:
            for segment in person.segments:
                assert 0 <= segment.start < segment.end <= truth.frame_count, (path, person.id)


def test_ground_truth_boxes_interpolate_between_keyframes():
    truth = load_ground_truth(TRUTH / "two_faces_hamilton.json")
    performer = next(p for p in truth.people if p.id == "performer")
    np.testing.assert_allclose(performer.box(0), [522, 55, 563, 96])
    np.testing.assert_allclose(performer.box(86), [146, 66.5, 244, 164.5])  # 82 ↔ 90
    assert performer.box(50) is None, "off screen during the pianist's close-up"


def test_evaluation_counts_fragments_switches_and_merges():
    truth = load_ground_truth(TRUTH / "two_people.json")
    left, right = [243, 57, 413, 227], [790, 83, 963, 256]
    good = evaluate_identities(truth, [0], [(0, 0, left), (0, 1, right)])
    assert (good.people, good.identities, good.fragmentation, good.merges) == (2, 2, 1.0, 0)
    assert good.recall_by_size["≥ 128"] == (2, 2)
    merged = evaluate_identities(truth, [0], [(0, 7, left), (0, 7, right)])
    assert merged.merges == 1
    missed = evaluate_identities(truth, [0], [(0, 0, left), (0, 1, [0, 0, 20, 20])])
    assert missed.recall_by_size["≥ 128"] == (1, 2) and missed.unmatched == 1
    hamilton = load_ground_truth(TRUTH / "two_faces_hamilton.json")
    box = hamilton.people[0].box
    split = evaluate_identities(hamilton, [0, 5, 100, 110],
                                [(0, 0, box(0)), (5, 0, box(5)), (100, 3, box(100)),
                                 (110, 0, box(110))])
    assert split.fragments["performer"] == 2 and split.switches == 2
    assert match_faces(hamilton, [(0, box(0)), (0, [0, 300, 10, 310])]) == ["performer", None]


# --------------------------------------------------------------------------- the shared media


def _figures(shared_data: Path, name: str, frames: int):
    truth = load_ground_truth(TRUTH / f"{name}.json")
    from forensics_app.core.analysis.faces_stage import track_clip

    sampled, tracked = track_clip(shared_data / truth.media, frames)
    faces = [(f, person, d.box) for f, person, d in tracked.entries]
    return truth, sampled, tracked, evaluate_identities(truth, sampled, faces)


@pytest.fixture(scope="module")
def hamilton(shared_data):
    return _figures(shared_data, "two_faces_hamilton", 100)


@pytest.mark.shared
def test_hamilton_performer_is_one_identity_across_the_cuts(hamilton):
    truth, sampled, tracked, figures = hamilton
    assert len(tracked.shot_cuts) >= 2, "the clip's cuts are found (they end the fragments)"
    assert figures.fragments["performer"] == 1, figures.summary()
    performer_frames = [f for f in sampled if truth.people[0].box(f) is not None]
    assert min(performer_frames) < tracked.shot_cuts[0] < max(performer_frames)


@pytest.mark.shared
def test_hamilton_has_no_more_identities_than_people_and_merges_no_one(hamilton):
    _, _, _, figures = hamilton
    assert figures.identities <= figures.people, figures.summary()
    assert figures.merges == 0, figures.summary()
    assert figures.switches == 0, figures.summary()


@pytest.mark.shared
def test_two_people_photo_gives_two_identities(shared_data):
    _, _, tracked, figures = _figures(shared_data, "two_people", 1)
    assert len(tracked.track_ids()) == 2
    assert figures.identities == 2 and figures.merges == 0


@pytest.mark.shared
@pytest.mark.parametrize("name", ["dfdc_abofeumbvv", "dfdc_abqwwspghj"])
def test_dfdc_clips_are_one_person_each(shared_data, name):
    _, _, _, figures = _figures(shared_data, name, 20)
    assert figures.identities == figures.people == 1, figures.summary()
    assert figures.fragmentation == 1.0


# --------------------------------------------------------------------------- face-crop clips


@pytest.mark.shared
def test_a_clip_that_is_a_face_crop_is_found_and_cut_as_the_model_was_trained(shared_data):
    import cv2

    from forensics_app.core.faces import FaceDetector
    from forensics_app.core.faces.crop import engine_crop, find_and_crop

    paths = sorted((shared_data / "faces" / "dfdc_crops" / "real").glob("*.jpg"))[:10]
    with FaceDetector("full", 0.5) as detector:
        # Most tight crops are missed as they are (about two in three): take the first.
        images = (np.ascontiguousarray(cv2.imread(str(p))[..., ::-1]) for p in paths)
        rgb = next(i for i in images if not detector.detect_whole(i))
        found = find_and_crop(detector, rgb, None, 224, 0.3)
        trained = engine_crop(rgb, detector, 224, 0.3)
    assert len(found) == 1
    detection, crop, crop_box = found[0]
    np.testing.assert_array_equal(crop, trained)  # the very crop the training data holds
    assert crop[:6].max() == 0, "the margin outside the frame is black"
    h, w = rgb.shape[:2]
    assert (detection.box >= 0).all() and detection.box[2] <= w and detection.box[3] <= h
    assert crop_box[0] < 0 and crop_box[2] > w, "the crop reaches past the frame"


# --------------------------------------------------------------------------- report and views


def test_report_counts_persons_and_glimpses_apart():
    from types import SimpleNamespace

    from forensics_app.core.report.sections import persons_seen

    results = SimpleNamespace(sampled_frames=list(range(100)),
                              identities=[_identity(0, 50, 0.1), _identity(1, 30, 0.1),
                                          _identity(2, 1, 0.9)])
    assert persons_seen(results) == ("2 distinct persons seen in at least 3 sampled frames, "
                                     "and 1 face glimpsed in fewer")
    results.identities = results.identities[:1]
    assert persons_seen(results) == "1 distinct person"


def test_views_do_not_carry_a_face_across_a_shot_cut():
    from forensics_app.core.faces.shots import same_shot
    from forensics_app.ui.relevancy_view import locate

    assert same_shot(10, 19, [20]) and not same_shot(19, 20, [20]) and same_shot(20, 30, [20])
    sampled = [0, 10, 20, 30]
    assert locate(sampled, [10, 20], 15) == (10, 10, 20, 0.5)
    assert locate(sampled, [10, 20], 15, cuts=[20]) is None, "a cut lies between the samples"
    assert locate(sampled, [10, 20], 20, cuts=[20]) == (20, 20, 20, 0.0)
