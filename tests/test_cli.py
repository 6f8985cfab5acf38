"""`forensics-app analyze` as a user runs it: good input, and every kind of bad input gets one
line naming the file, a non-zero exit (where the job failed), no traceback, evidence intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
from media_factory import make_audio_only, make_truncated, make_video

from forensics_app.cli import main
from forensics_app.core.models.registry import CARD_FILE, WEIGHTS_FILE


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, name: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("forensics-app: error:")]
    assert len(lines) == 1, err
    assert name in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture()
def evidence_dir(tmp_path):
    folder = tmp_path / "evidence"
    folder.mkdir()
    return folder


def test_analyze_prints_verdict_and_writes_results(capsys, shared_data, tiny_model_dir, tmp_path):
    clip = shared_data / "videos" / "fake" / "dfdc_abofeumbvv.mp4"
    before = sha256(clip)
    code, out, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "case", "--frames", 8,
                             "--model", tiny_model_dir, "--device", "cpu")
    assert code == 0, err
    assert "verdict:" in out and "p_fake:" in out and "tiny-test" in out
    assert str(tmp_path / "case") in out
    for stage in ("hash", "open", "faces", "spatial", "temporal", "write"):
        assert stage in err  # one progress line per stage
    data = json.loads((tmp_path / "case" / "results.json").read_text())
    assert data["settings"]["frames"] == 8 and data["settings"]["device"] == "cpu"
    assert sha256(clip) == before


BAD_INPUTS = {
    "missing": lambda d: d / "nope.mp4",
    "directory": lambda d: d,
    "empty": lambda d: _write(d / "empty.mp4", b""),
    "text": lambda d: _write(d / "notes.mp4", b"this is not a video\n" * 50),
    "truncated": lambda d: make_truncated(make_video(d / "whole.mp4", n_frames=40),
                                          d / "truncated.mp4", 0.4),
    "audio_only": lambda d: make_audio_only(d / "voice.m4a"),
}
EXPECTED = {
    "missing": "not found", "directory": "directory", "empty": "empty",
    "text": "not a video", "truncated": "truncated", "audio_only": "no video stream",
}


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_evidence(kind, capsys, evidence_dir, tiny_model_dir, tmp_path):
    path = BAD_INPUTS[kind](evidence_dir)
    before = sha256(path) if path.is_file() else None
    listing = sorted(p.name for p in evidence_dir.iterdir())
    code, _, err = run_cli(capsys, "analyze", path, "--out", tmp_path / "out", "--frames", 30,
                           "--model", tiny_model_dir)
    assert code != 0
    line = assert_one_line_error(err, path.name)
    assert EXPECTED[kind] in line.lower(), line
    if before is not None:
        assert sha256(path) == before
    assert sorted(p.name for p in evidence_dir.iterdir()) == listing  # nothing written there


def test_still_image_is_analysed_as_one_frame(capsys, shared_data, tiny_model_dir, tmp_path):
    image = shared_data / "images" / "real" / "obama.jpg"
    code, _, err = run_cli(capsys, "analyze", image, "--out", tmp_path / "out",
                             "--model", tiny_model_dir)
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["evidence"]["is_still_image"] and data["sampled_frames"] == [0]
    assert len(data["faces"][0]) == 1
    assert data["identities"][0]["p_fake_temporal"] is None  # one frame: no clip model


def test_no_face_is_inconclusive_with_exit_zero(capsys, evidence_dir, tiny_model_dir, tmp_path):
    clip = make_video(evidence_dir / "blank.mp4", n_frames=10)
    code, out, _ = run_cli(capsys, "analyze", clip, "--out", tmp_path / "out", "--frames", 5,
                           "--model", tiny_model_dir)
    assert code == 0
    assert "INCONCLUSIVE" in out and "no face" in out


def test_unwritable_output(capsys, evidence_dir, tiny_model_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "analyze", clip, "--out", blocker / "sub", "--model",
                           tiny_model_dir)
    assert code != 0
    assert "not writable" in assert_one_line_error(err, "sub")


def test_output_beside_evidence_refused(capsys, evidence_dir, tiny_model_dir):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    code, _, err = run_cli(capsys, "analyze", clip, "--out", evidence_dir, "--model",
                           tiny_model_dir)
    assert code != 0 and "beside the evidence" in err
    assert sorted(p.name for p in evidence_dir.iterdir()) == ["clip.mp4"]


def test_mismatched_and_corrupt_weights(capsys, evidence_dir, tiny_model_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    data = bytearray((model / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (model / WEIGHTS_FILE).write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--model", model)
    assert code == 3 and "does not match" in assert_one_line_error(err, WEIGHTS_FILE)
    card = json.loads((model / CARD_FILE).read_text())
    card["sha256"] = ""
    (model / CARD_FILE).write_text(json.dumps(card))
    (model / WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--model", model)
    assert code == 3 and "corrupt" in assert_one_line_error(err, WEIGHTS_FILE)


def test_bad_arguments(capsys, evidence_dir, tiny_model_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--frames", 500,
                           "--model", tiny_model_dir)
    assert code != 0 and "--frames" in err
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--device", "cuda:7",
                           "--model", tiny_model_dir)
    assert code != 0 and "cuda" in err.lower()


def test_real_process_exit_code_and_no_traceback(tmp_path):
    """The installed entry point as a subprocess: exit status and stderr as a shell sees them."""
    run = subprocess.run([sys.executable, "-m", "forensics_app", "analyze",
                          str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("forensics-app: error:")
    assert "missing.mp4" in run.stderr and "Traceback" not in run.stderr
