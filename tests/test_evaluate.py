"""Evaluation metrics against hand-computed values, calibration, plots and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from forensics_app.core.train.calibration import (
    binary_nll,
    expected_calibration_error,
    fit_platt,
    fit_temperature,
)
from forensics_app.core.train.evaluate import (
    ItemScore,
    plot_confusion,
    plot_history,
    plot_roc,
    read_labels,
    summarise,
)
from forensics_app.core.train.metrics import (
    binary_metrics,
    equal_error_rate,
    roc_auc,
    roc_curve,
)

# A small fixed example, worked by hand in the comments below.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.4, 0.35, 0.8, 0.9, 0.6, 0.3, 0.7]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_metrics_match_hand_computed_values():
    m = binary_metrics(LABELS, SCORES, threshold=0.5)
    # Fake > real pairs: 0.9 beats 4, 0.6 beats 3, 0.3 beats 1, 0.7 beats 3 → 11 of 16.
    assert m["auc"] == pytest.approx(11 / 16)
    # At 0.5: reals 0.1 0.4 0.35 → TN 3, real 0.8 → FP 1; fakes 0.9 0.6 0.7 → TP 3, 0.3 → FN 1.
    assert m["confusion_matrix"] == [[3, 1], [1, 3]]
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    # ROC walk (desc): 0.9 P (0,.25) 0.8 N (.25,.25) 0.7 P (.25,.5) 0.6 P (.25,.75): there
    # FNR = FPR = 0.25, so EER 0.25 at threshold 0.6.
    assert m["eer"] == pytest.approx(0.25)
    assert m["eer_threshold"] == pytest.approx(0.6)
    assert (m["count"], m["fakes"], m["reals"]) == (8, 4, 4)


def test_metrics_at_another_threshold_and_edge_cases():
    m = binary_metrics(LABELS, SCORES, threshold=0.85)
    assert m["confusion_matrix"] == [[4, 0], [3, 1]]
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(0.25)
    assert m["f1"] == pytest.approx(2 * 0.25 / 1.25)
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # ties count half
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert np.isnan(roc_auc([1, 1], [0.2, 0.9]))
    assert np.isnan(equal_error_rate([0, 0], [0.1, 0.2])[0])


def test_auc_equals_area_under_roc_curve():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounding makes ties
    fpr, tpr, thr = roc_curve(labels, scores)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert np.all(np.diff(thr[1:]) < 0)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed it
    assert roc_auc(labels, scores) == pytest.approx(trapezoid(tpr, fpr))


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 2.0, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    overconfident = 3.0 * true_logits
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.08)
    assert binary_nll(overconfident, labels, t) < binary_nll(overconfident, labels, 1.0)
    before = expected_calibration_error(1 / (1 + np.exp(-overconfident)), labels)
    after = expected_calibration_error(1 / (1 + np.exp(-overconfident / t)), labels)
    assert after < 0.5 * before
    assert fit_temperature([1.0, 2.0], [1, 1]) == 1.0  # one class: nothing to fit


def test_platt_scaling_recovers_temperature_and_shift():
    rng = np.random.default_rng(2)
    true_logits = rng.normal(0, 2.0, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    # Over-confident and offset, as on faces of people the model never saw.
    t, shift = fit_platt(3.0 * true_logits + 12.0, labels)
    assert t == pytest.approx(3.0, rel=0.08)
    assert shift == pytest.approx(-12.0, rel=0.08)
    # Temperature alone cannot undo the offset: it squashes everything towards 0.5.
    assert fit_temperature(3.0 * true_logits + 12.0, labels) > 5


def test_summary_plots_and_history(tmp_path):
    scored = [
        ItemScore("r.mp4", 0, "video", 0.2, [0.1, 0.3]),
        ItemScore("f.mp4", 1, "video", 0.7, [0.6, 0.4]),
        ItemScore("f.png", 1, "face", 0.9, [0.9]),
        ItemScore("none.mp4", 1, "video", None, []),
    ]
    m = summarise(scored, 0.5)
    assert m["frame"]["count"] == 5 and m["video"]["count"] == 2
    # Frame scores: reals 0.1, 0.3; fakes 0.6, 0.4, 0.9 → all 6 pairs ordered → AUC 1.
    assert m["frame"]["auc"] == 1.0
    assert m["frame"]["confusion_matrix"] == [[2, 0], [1, 2]]
    assert m["video"]["confusion_matrix"] == [[1, 0], [0, 1]]
    assert m["unscored"] == ["none.mp4"]
    assert set(m["frame_by_kind"]) == {"video_frame", "face"}
    plot_roc(m, scored, tmp_path / "roc.png")
    plot_confusion(m, tmp_path / "cm.png")
    history = tmp_path / "history.json"
    assert not plot_history(history, tmp_path / "curves.png")
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_auc": 0.5 + e / 10}
            for e in (1, 2, 3)]
    history.write_text(json.dumps({"spatial": rows, "temporal": rows}))
    assert plot_history(history, tmp_path / "curves.png")
    for name in ("roc.png", "cm.png", "curves.png"):
        image = cv2.imread(str(tmp_path / name))
        assert image is not None and image.shape[0] > 100


def test_read_labels_resolves_paths_and_kinds(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "path,label,kind\nvideos/a.mp4,real,video\nfaces/b.png,FAKE,face\nc.jpg,1,\n")
    items = read_labels(tmp_path / "labels.csv")
    assert [(i.path.name, i.label, i.kind) for i in items] == [
        ("a.mp4", 0, "video"), ("b.png", 1, "face"), ("c.jpg", 1, "image")]
    (tmp_path / "bad.csv").write_text("path,label\nx.mp4,maybe\n")
    with pytest.raises(ValueError):
        read_labels(tmp_path / "bad.csv")


def test_evaluate_cli_on_images_with_a_tiny_model(tmp_path, tiny_model_dir):
    from forensics_app.cli import main

    rng = np.random.default_rng(0)
    rows = ["path,label,kind"]
    for i, label in enumerate(("real", "fake", "real", "fake")):
        image = rng.integers(0, 255, (80 + 10 * i, 80, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
        rows.append(f"{i}.png,{label},face")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "eval"
    code = main(["evaluate", "--labels", str(tmp_path / "labels.csv"), "--model",
                 str(tiny_model_dir), "--out", str(out), "--device", "cpu"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frame"]["count"] == 4 and metrics["model"]["name"] == "tiny-test"
    assert all(0 <= item["p_fake"] <= 1 for item in metrics["items"])
    assert (out / "roc.png").exists() and (out / "confusion.png").exists()
    assert main(["evaluate", "--labels", str(tmp_path / "missing.csv"), "--out",
                 str(out)]) == 1


def test_publish_turns_evaluations_into_the_cards_shared_figures(tmp_path):
    from dataclasses import asdict

    from forensics_app.core.train.publish import shared_faces_entry, shared_videos_entry

    root = tmp_path / "data"
    scored = [ItemScore(str(root / "videos/real/r.mp4"), 0, "video", 0.2, [0.1, 0.3], "real"),
              ItemScore(str(root / "videos/fake/f.mp4"), 1, "video", 0.4, [0.6, 0.4], "real"),
              ItemScore(str(root / "faces/x.png"), 1, "face", 0.9, [0.9], "fake"),
              ItemScore(str(root / "images/y.jpg"), 0, "image", 0.2, [0.2], "real")]
    metrics = summarise(scored, 0.5)
    metrics["items"] = [asdict(s) for s in scored]
    metrics["frames_per_video"] = 32
    videos = shared_videos_entry({**metrics, "items": metrics["items"][:2]}, root)
    assert videos["frames"] == 32 and videos["count"] == 2 and videos["correct"] == 1
    assert videos["videos"]["f"] == {"path": "videos/fake/f.mp4", "truth": "fake",
                                     "p_fake": 0.4, "label": "real"}
    assert videos["video_auc"] == metrics["video"]["auc"]
    faces = shared_faces_entry(metrics)
    assert faces["faces_dfdc_22_crops"]["count"] == 1 and faces["images_real"]["count"] == 1


def test_card_markdown_says_which_indicators_are_findings(tiny_model_dir, tmp_path):
    import shutil

    from forensics_app.core.train.publish import write_markdown

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    write_markdown(folder)
    assert "Not measured for this model" in (folder / "MODEL_CARD.md").read_text()
    card = json.loads((folder / "model_card.json").read_text())
    common = {"n_real": 6, "n_fake": 12, "frames": 32, "fakes": ["blend", "freeze"]}
    card["indicator_rates"] = {"score_spread": {"real": 0.33, "fake": 0.42, **common},
                               "frames_above_threshold": {"real": 0.0, "fake": 0.34, **common}}
    (folder / "model_card.json").write_text(json.dumps(card))
    write_markdown(folder)
    text = (folder / "MODEL_CARD.md").read_text()
    assert "6 held-out real clips and 12 synthetic fakes" in text
    assert "| `score_spread` | 33% | 42% | no: reference only |" in text
    assert "| `frames_above_threshold` | 0% | 34% | yes |" in text


def test_publish_ships_the_reliability_diagram_and_never_a_stale_one(tiny_model_dir, tmp_path):
    from forensics_app.core.train.publish import RELIABILITY_FILE, publish

    diagram = tmp_path / "reliability.png"
    cv2.imwrite(str(diagram), np.zeros((8, 8, 3), np.uint8))
    dest = publish(tiny_model_dir, tmp_path / "models" / "m", reliability=diagram)
    assert (dest / RELIABILITY_FILE).read_bytes() == diagram.read_bytes()
    assert f"]({RELIABILITY_FILE})" in (dest / "MODEL_CARD.md").read_text()
    publish(tiny_model_dir, dest)  # a new model without a diagram: the old one must go
    assert not (dest / RELIABILITY_FILE).exists()
    assert RELIABILITY_FILE not in (dest / "MODEL_CARD.md").read_text()


def test_publish_adds_a_stated_limitation_after_the_standard_ones(tiny_model_dir, tmp_path):
    from forensics_app.core.train.publish import main

    dest = tmp_path / "models" / "m"
    assert main([str(tiny_model_dir), str(dest)]) == 0
    standard = json.loads((dest / "model_card.json").read_text())["limitations"]
    assert main([str(tiny_model_dir), str(dest), "--limitation", "Fusion rule prompted by X."]
                ) == 0
    stated = json.loads((dest / "model_card.json").read_text())["limitations"]
    assert stated == [*standard, "Fusion rule prompted by X."]
    assert "- Fusion rule prompted by X." in (dest / "MODEL_CARD.md").read_text()


def test_publish_may_give_the_model_its_shipping_version_and_keeps_the_runs(tiny_model_dir,
                                                                          tmp_path):
    from forensics_app.core.models.registry import load_model
    from forensics_app.core.train.publish import main

    trained_as = json.loads((tiny_model_dir / "model_card.json").read_text())["version"]
    dest = tmp_path / "models" / "m"
    assert main([str(tiny_model_dir), str(dest), "--version", "9.1.0"]) == 0
    card = json.loads((dest / "model_card.json").read_text())
    assert (card["version"], card["training"]["run_version"]) == ("9.1.0", trained_as)
    assert load_model(dest, "cpu").card.version == "9.1.0"  # the card stays valid
    with pytest.raises(SystemExit):
        main([str(tiny_model_dir), str(dest), "--version", " "])
    with pytest.raises(SystemExit):
        main(["--amend", str(dest), "--metrics", "x=y.json", "--version", "9.2.0"])


def test_marker_limitation_quotes_the_cards_own_splice_figures():
    from forensics_app.core.train.publish import measured_limitations

    assert measured_limitations({}) == []
    lines = measured_limitations({"heldout": {"splices": {
        "marker_near_boundary_share": 0.0833, "real_windows_with_a_marker_share": 1 / 3}}})
    assert len(lines) == 1 and "8%" in lines[0] and "33%" in lines[0]
    lines = measured_limitations({
        "heldout": {"splices": {"marker_near_boundary_share": 0.5,
                                "real_windows_with_a_marker_share": 0.25,
                                "relevancy_localisation_auc_mean": 0.9}},
        "temporal_spread": {"trainings": 3, "epochs_measured": 24,
                            "localisation": [0.58, 0.95], "marker_near_boundary": [0.22, 0.58],
                            "real_windows_marked": [0.28, 0.67]}})
    assert len(lines) == 2 and "0.90" in lines[1] and "0.58-0.95" in lines[1]
    assert "22%-58%" in lines[1] and "28%-67%" in lines[1] and "3 trainings" in lines[1]


def test_the_temporal_spread_is_the_range_over_every_measured_epoch(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "temporal_spread", Path(__file__).parents[1] / "bench" / "temporal_spread.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    row = {"held_loc": 0.9, "near": 0.5, "real_marked": 0.3, "real_entropy": 0.65}
    curves = [{"args": {"seed": "0"}, "rows": [row, {**row, "held_loc": 0.6}]},
              {"args": {"seed": "1"}, "rows": [{**row, "near": 0.2, "real_marked": 0.7}]}]
    result = module.spread(curves)
    assert result["trainings"] == 2 and result["epochs_measured"] == 3
    assert result["seeds"] == [0, 1] and result["localisation"] == [0.6, 0.9]
    assert result["marker_near_boundary"] == [0.2, 0.5]
    assert result["real_windows_marked"] == [0.3, 0.7]
    with pytest.raises(ValueError):
        module.spread([{"args": {"seed": "0"}, "rows": []}])


def test_paired_spatial_arms_differ_by_epoch_from_the_first_and_name_the_setting(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location(
        "spatial_arms", Path(__file__).parents[1] / "bench" / "spatial_arms.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(name: str, freeze: int, sbi: list[float]) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        epochs = [{"epoch": i + 1, "seconds": 400, "train_img_per_s": 20.0,
                   "val": {"faces_sbi": {"auc": a}, "dfdc": {"auc": 0.9}}}
                  for i, a in enumerate(sbi)]
        (folder / "history.json").write_text(json.dumps({"spatial": epochs}))
        (folder / "train_config.json").write_text(json.dumps(
            {"freeze_blocks": freeze, "lr": 2.5e-4, "epochs": 5}))
        return folder

    result = module.compare([run("frozen", 2, [0.88, 0.89, 0.90]), run("full", 0, [0.86, 0.87])])
    assert result["settings_that_differ"] == ["freeze_blocks"]
    assert result["epochs_compared"] == 2, "only the epochs both arms reached"
    difference = result["arms"][1]["difference_from_first"]
    assert [d["faces_sbi"] for d in difference] == [-0.02, -0.02]
    assert [d["dfdc"] for d in difference] == [0.0, 0.0]
    assert difference[0]["mean_auc"] == -0.01
    assert "| full | 0 | 2 | 0.870 | 0.900 |" in module.table(result)
    card = module.summary(result)
    assert card["baseline"] == {"run": "frozen", "freeze_blocks": 2}
    assert card["full"]["auc_minus_baseline"] == {"faces_sbi": -0.02, "dfdc": 0.0,
                                                  "mean_auc": -0.01}


def test_the_restarts_bench_reads_every_training_checkpoint_in_restart_order(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "temporal_restarts", Path(__file__).parents[1] / "bench" / "temporal_restarts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("temporal_checkpoint.pt", "temporal_checkpoint_r10.pt",
                 "temporal_checkpoint_r2.pt", "temporal_checkpoint_r1.pt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in module.checkpoints(tmp_path)] == [
        "temporal_checkpoint.pt", "temporal_checkpoint_r1.pt", "temporal_checkpoint_r2.pt",
        "temporal_checkpoint_r10.pt"]


def test_publish_refuses_a_missing_run_or_figures_file_in_one_line(tmp_path, tiny_model_dir,
                                                                   capsys):
    from forensics_app.core.train.publish import main

    dest = tmp_path / "models" / "x"
    assert main([str(tmp_path / "no-run"), str(dest)]) == 1
    assert main([str(tiny_model_dir), str(dest), "--heldout", str(tmp_path / "none.json")]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("publish: error: ") for line in errors)
    assert "none.json" in errors[1]
    assert not dest.exists(), "nothing published"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main([str(tiny_model_dir), str(dest), "--metrics", f"x={broken}"]) == 1
    (error,) = capsys.readouterr().err.strip().splitlines()
    assert str(broken) in error and "not a JSON figures file" in error
    assert not dest.exists(), "nothing published"


def test_publish_refuses_figures_measured_on_another_model(tmp_path, tiny_model_dir, capsys):
    from forensics_app.core.models.registry import read_card
    from forensics_app.core.train.publish import main

    sha = read_card(tiny_model_dir).sha256
    dest = tmp_path / "models" / "x"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"model": {"name": "m", "sha256": "f" * 64}, "auc": 0.9}))
    assert main([str(tiny_model_dir), str(dest), "--heldout", str(other)]) == 1
    assert main([str(tiny_model_dir), str(dest), "--metrics", f"sbi_strata={other}"]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all("measured on another model" in line for line in errors)
    assert "sbi_strata" in errors[1] and not dest.exists(), "nothing published"
    same = tmp_path / "same.json"
    same.write_text(json.dumps({"model": {"sha256": sha}, "auc_by_region": {
        "whole face": 0.915, "mouth and jaw": 0.836, "eyes, nose and mouth": 0.834}}))
    assert main([str(tiny_model_dir), str(dest), "--metrics", f"sbi_strata={same}"]) == 0
    text = (dest / "MODEL_CARD.md").read_text()
    assert "lip-sync" in text and "0.84 (mouth and jaw)" in text and "0.92 for the whole" in text


def _published_with_splices(tmp_path, tiny_model_dir):
    """The tiny model published with splice figures and one limitation stated by hand."""
    from forensics_app.core.train.publish import main

    dest = tmp_path / "models" / "m"
    heldout = tmp_path / "heldout.json"
    heldout.write_text(json.dumps({"splices": {"marker_near_boundary_share": 0.5,
                                               "real_windows_with_a_marker_share": 0.25}}))
    assert main([str(tiny_model_dir), str(dest), "--heldout", str(heldout),
                 "--limitation", "Stated by hand."]) == 0
    return dest


def test_amend_adds_figures_to_a_published_card_and_redraws_only_its_measured_limitations(
        tmp_path, tiny_model_dir, capsys):
    from forensics_app.core.models.registry import WEIGHTS_FILE, load_model, read_card
    from forensics_app.core.train.publish import main

    dest = _published_with_splices(tmp_path, tiny_model_dir)
    before = read_card(dest)
    weights = (dest / WEIGHTS_FILE).read_bytes()
    strata = tmp_path / "strata.json"
    strata.write_text(json.dumps({"model": {"sha256": before.sha256}, "auc_by_region": {
        "whole face": 0.9, "mouth and jaw": 0.8}}))
    assert main(["--amend", str(dest), "--metrics", f"sbi_strata={strata}"]) == 0
    after = read_card(dest)
    assert (dest / WEIGHTS_FILE).read_bytes() == weights and load_model(dest)
    assert after.limitations[:len(before.limitations)] == before.limitations
    assert len(after.limitations) == len(before.limitations) + 1
    assert "0.80 (mouth and jaw)" in after.limitations[-1]
    assert "Stated by hand." in after.limitations
    assert after.metrics["heldout"] == before.metrics["heldout"]
    assert "0.80 (mouth and jaw)" in (dest / "MODEL_CARD.md").read_text()
    assert main(["--amend", str(dest), "--metrics", f"sbi_strata={strata}"]) == 0
    assert read_card(dest).limitations == after.limitations, "amending twice adds nothing"
    strata.write_text(json.dumps({"model": {"sha256": "0" * 64}, "auc_by_region": {}}))
    assert main(["--amend", str(dest), "--metrics", f"sbi_strata={strata}"]) == 1
    assert "measured on another model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--amend", str(dest), str(tmp_path / "d"), "--metrics", f"x={strata}"])


def test_amend_without_figures_redraws_a_limitation_whose_wording_has_changed(
        tmp_path, tiny_model_dir):
    """A card drawn by older code keeps an older wording of a drawn line; drawing it again
    replaces that line, not adds a second one beside it."""
    from forensics_app.core.models.registry import read_card, write_card
    from forensics_app.core.train.publish import main, measured_limitations

    dest = _published_with_splices(tmp_path, tiny_model_dir)
    card = read_card(dest)
    stale = ("Its red markers (unusual frames) are leads, not findings: worded as an "
             "older version drew it.")
    card.limitations = [stale if line in measured_limitations(card.metrics) else line
                        for line in card.limitations]
    write_card(dest, card)
    assert main(["--amend", str(dest)]) == 0
    redrawn = read_card(dest).limitations
    assert stale not in redrawn and "Stated by hand." in redrawn
    assert all(line in redrawn for line in measured_limitations(card.metrics))
    assert len(redrawn) == len(card.limitations)
    assert stale not in (dest / "MODEL_CARD.md").read_text()


def test_region_limitation_quotes_the_figures_by_part_of_the_face():
    from forensics_app.core.train.publish import region_limitations

    assert region_limitations({}) == []
    assert region_limitations({"sbi_strata": {"auc_by_region": {"mouth and jaw": 0.8}}}) == []
    (line,) = region_limitations({"sbi_strata": {"auc_by_region": {
        "whole face": 0.915, "mouth and jaw": 0.836, "eyes, nose and mouth": 0.834,
        "forehead and eyes": 0.893}}})
    assert ("AUC 0.84 (mouth and jaw), 0.83 (eyes, nose and mouth) and 0.89 (forehead and "
            "eyes), against 0.92 for the whole face") in line


def test_the_cards_headline_names_exactly_the_targets_not_reached(tiny_model_dir):
    from dataclasses import replace

    from forensics_app.core.models.registry import read_card
    from forensics_app.core.train.publish import headline_markdown

    card = read_card(tiny_model_dir)

    every = {"heldout_faces_sbi": {"auc_drop_frame_crf40": 0.05},
             "heldout_faces_reenact": {"auc": 0.95}, "heldout_faces_warp": {"auc": 0.95},
             "canvas_invariance": {"mean_shift": 0.0, "very_confident_fake": 0},
             "band_precision": {"very confident": {"right": 0.99},
                                "confident": {"right": 0.95}}}

    def headline(sbi: float, dfdc: float, drop: float) -> str:
        held = {**every, "heldout_faces_sbi": {**every["heldout_faces_sbi"], "auc": sbi,
                                               "auc_drop": drop},
                "heldout_dfdc": {"auc": dfdc}}
        metrics = {"heldout": held, "dfl_videos": {"video_auc": 0.85}}
        return headline_markdown(replace(card, metrics=metrics))

    text = headline(0.89, 0.931, 0.19)
    assert "not reached: self-blend AUC ≥ 0.93, robust to H.264 CRF 35" in text
    assert "DFDC AUC" not in text
    assert "not reached: DFDC AUC ≥ 0.93" in headline(0.98, 0.90, 0.01)
    assert "it meets the detection targets" in headline(0.98, 0.94, 0.04)


def test_self_blend_strata_split_one_minus_auc_into_parts_that_add_up():
    import importlib.util

    from forensics_app.core.train.metrics import binary_metrics

    spec = importlib.util.spec_from_file_location(
        "sbi_strata", Path(__file__).parents[1] / "bench" / "sbi_strata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(3)
    real_p = np.r_[rng.uniform(0, 0.7, 40), 0.5]  # a tie with a fake below
    fake_p = np.r_[rng.uniform(0.3, 1.0, 30), 0.5]
    auc = binary_metrics(np.r_[np.zeros(41), np.ones(31)], np.r_[real_p, fake_p])["auc"]
    per_fake, per_real = module.shortfall_shares(real_p, fake_p)
    assert per_fake.mean() == pytest.approx(1 - auc) and per_real.mean() == pytest.approx(1 - auc)
    keys = ["faint" if p < 0.6 else "strong" for p in fake_p]
    table = module.strata_table("t", keys, per_fake, fake_p, real_p)["rows"]
    assert sum(r["part_of_shortfall"] for r in table.values()) == pytest.approx(1 - auc, abs=1e-3)
    assert table["faint"]["auc"] < table["strong"]["auc"]
    assert table["faint"]["fakes"] + table["strong"]["fakes"] == 31
    assert len(set(module.quartile_keys(np.arange(100.0), "u"))) == 4
    features = {"ratio": ["0.25" if k == "faint" else "1.00" for k in keys],
                "region": ["lower" if k == "faint" else "hull" for k in keys],
                "altered": keys, "detail": keys, "change": list(fake_p), "area": list(fake_p),
                "source": ["lfw"] * len(keys)}
    result = module.measure("blends", real_p, fake_p, features)
    assert result["auc"] == pytest.approx(auc, abs=1e-4)

    class Card:
        name, version, sha256 = "m", "1", "a" * 64

    summary = module.card_summary(type("Model", (), {"card": Card})(), result)
    assert list(summary["auc_by_region"]) == ["whole face", "mouth and jaw"]
    assert summary["model"]["sha256"] == "a" * 64 and summary["fakes"] == 31


def test_amend_takes_the_dfl_clips_figures_and_the_card_states_them(tmp_path, tiny_model_dir):
    from forensics_app.core.models.figures import held_out_figures, unmet_targets
    from forensics_app.core.models.registry import read_card
    from forensics_app.core.train.publish import main

    dest = tmp_path / "models" / "m"
    heldout = tmp_path / "heldout.json"
    heldout.write_text(json.dumps({"heldout_faces_sbi": {"auc": 0.95, "groups": 3},
                                   "heldout_faces_reenact": {"auc": 0.91},
                                   "canvas_invariance": {"faces": 4, "mean_shift": 0.01,
                                                         "very_confident_fake": 0}}))
    assert main([str(tiny_model_dir), str(dest), "--heldout", str(heldout)]) == 0
    items = [{"path": f"v{i}.mp4", "label": i % 2, "p_fake": 0.2 + 0.5 * (i % 2),
              "prediction": "fake" if i in (1, 2) else "real"} for i in range(6)]
    dfl = tmp_path / "dfl.json"
    dfl.write_text(json.dumps({"frames_per_video": 32, "items": items,
                               "video": {"auc": 0.83, "accuracy": 0.66},
                               "frame": {"auc": 0.7}}))
    assert main(["--amend", str(dest), "--dfl", str(dfl)]) == 0
    card = read_card(dest)
    assert card.metrics["dfl_videos"] == {
        "frames": 32, "video_auc": 0.83, "video_accuracy": 0.66, "frame_auc": 0.7,
        "reals": 3, "fakes": 3, "fakes_called_fake": 1, "reals_called_fake": 1}
    rows = {row.measurement.split(",")[0]: row for row in held_out_figures(card.metrics)}
    assert rows["DeepFaceLive webcam clips"].figure.startswith("0.830")
    assert any("reenactments of held-out people" in m for m in rows)
    unmet = unmet_targets(card.metrics)
    assert not any("DeepFaceLive" in t or "reenactment" in t or "crop-pipeline" in t
                   for t in unmet)
    assert any("motion-warp" in t for t in unmet), "a figure the card lacks is not reached"
    with pytest.raises(SystemExit):
        main(["--amend", str(dest), "--limitation", "words are not figures"])
