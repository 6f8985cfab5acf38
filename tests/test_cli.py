"""`forensics-app analyze` as a user runs it: good input, and every kind of bad input gets one
line naming the file, a non-zero exit (where the job failed), no traceback, evidence intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from media_factory import make_audio_only, make_truncated, make_video

from forensics_app.cli import main
from forensics_app.core.analysis.results import read_results
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
    (model / WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    card["sha256"] = sha256(model / WEIGHTS_FILE)  # matching, but not safetensors
    (model / CARD_FILE).write_text(json.dumps(card))
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


# -- issue 13: options before work, usage exit code, regular files, symlinks, seals ----------
USAGE = 64


@pytest.mark.parametrize("extra", [["--batch-size", "0"], ["--batch-size", "-1"],
                                   ["--frames", "0"], ["--device", "gpu"], ["--no-such-flag"],
                                   ["--segment", "9:3"], ["--report", "r.txt"],
                                   ["--stream", "-1"]])
def test_usage_errors_exit_64_before_any_work(extra, capsys, evidence_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    code, out, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", *extra)
    assert code == USAGE, err
    assert len([ln for ln in err.splitlines() if ln.startswith("forensics-app: error:")]) == 1
    assert "Traceback" not in err and not out
    assert not (tmp_path / "o").exists()


def test_segment_and_stream_checked_against_the_clip(capsys, evidence_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=12)
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--segment", "0:500")
    assert code == USAGE and "beyond the clip (12 frames" in err
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--stream", "1")
    assert code == USAGE and "1 video stream" in err
    assert not (tmp_path / "o").exists()


def test_special_files_are_not_evidence(capsys, evidence_dir, tmp_path):
    import os

    fifo = evidence_dir / "pipe.mp4"
    os.mkfifo(fifo)
    for path, word in ((fifo, "named pipe"), (Path("/dev/zero"), "character device")):
        code, _, err = run_cli(capsys, "analyze", path, "--out", tmp_path / "o")
        assert code == 2
        assert word in assert_one_line_error(err, path.name)


def test_symlinks_resolved_and_out_inside_the_evidence_folder(capsys, evidence_dir, tmp_path):
    real = make_video(evidence_dir / "clip.mp4", n_frames=6)
    links = tmp_path / "links"
    links.mkdir()
    (links / "clip.mp4").symlink_to(real)
    for video, out in ((links / "clip.mp4", evidence_dir / "sub"),  # beside the real file
                       (links / "clip.mp4", links / "o"),  # beside the link
                       (real, evidence_dir / "a" / "b")):  # deep inside its folder
        code, _, err = run_cli(capsys, "analyze", video, "--out", out)
        assert code == 4 and "beside the evidence" in err, err
    assert sorted(p.name for p in evidence_dir.iterdir()) == ["clip.mp4"]
    assert sorted(p.name for p in links.iterdir()) == ["clip.mp4"]


def test_evidence_opened_through_a_symlinked_folder_is_named_one_way_per_field(
        capsys, evidence_dir, tiny_model_dir, tmp_path):
    """Issue 33 (5): the evidence record, recent files and report named the resolved file,
    the audit lines the opened path: one log named both in one field. Now every record has
    the file in one field (`path` / `video`) and the opened path in another (`opened_as`)."""
    from pypdf import PdfReader

    from forensics_app.core.case import Case

    real = make_video(evidence_dir / "clip.mp4", n_frames=8)
    linked = tmp_path / "mounted"
    linked.symlink_to(evidence_dir, target_is_directory=True)
    opened = linked / "clip.mp4"
    case = Case.create(tmp_path / "case", "C-15", "examiner A")
    code, _, err = run_cli(capsys, "analyze", opened, "--case", case.folder, "--frames", 4,
                           "--model", tiny_model_dir, "--report", tmp_path / "r.pdf")
    assert code == 0, err
    (record,) = Case.open(case.folder).evidence()
    assert (record.path, record.opened_as) == (str(real.resolve()), str(opened))
    ev = read_results(case.folder / "analyses" / "E001").results.evidence
    assert (ev.path, ev.opened_as, ev.file_name) == (str(real.resolve()), str(opened),
                                                     "clip.mp4")
    named = [line for line in case.audit_log() if {"video", "path"} & set(line)]
    assert named, "the audit lines that name the file"
    for line in named:
        assert line.get("video", line.get("path")) == str(real.resolve()), line
        assert line["opened_as"] == str(opened), line
    text = "".join("".join(page.extract_text().split())
                   for page in PdfReader(tmp_path / "r.pdf").pages)
    assert "Openedas" in text and "mounted/clip.mp4" in text


def test_report_and_notes_checked_before_the_analysis(capsys, evidence_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--report",
                           tmp_path / "r.pdf", "--notes", tmp_path / "missing.txt")
    assert code == 1 and "missing.txt" in assert_one_line_error(err, "missing.txt")
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--report",
                           evidence_dir / "r.pdf")
    assert code == 4 and "beside the evidence" in err
    assert not (tmp_path / "o").exists()


def test_existing_results_refused_with_exit_5(capsys, evidence_dir, tiny_model_dir, tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    args = ("analyze", clip, "--out", tmp_path / "o", "--frames", 3, "--model", tiny_model_dir)
    assert run_cli(capsys, *args)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "o").iterdir()}
    code, _, err = run_cli(capsys, *args)
    assert code == 5 and "already holds results" in assert_one_line_error(err, "o")
    assert {p.name: p.read_bytes() for p in (tmp_path / "o").iterdir()} == before


def _two_stream_mkv(path):
    import av
    from media_factory import draw_frame_number

    with av.open(str(path), "w") as out:
        streams = [out.add_stream("mpeg4", rate=25) for _ in range(2)]
        for s, (w, h) in zip(streams, ((64, 48), (96, 64)), strict=True):
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(8):
            for s in streams:
                frame = av.VideoFrame.from_ndarray(draw_frame_number(i, s.width, s.height),
                                                   format="rgb24")
                frame.pts = i
                out.mux(s.encode(frame))
        for s in streams:
            out.mux(s.encode())
    return path


def test_other_video_streams_warned_and_chosen(capsys, evidence_dir, tiny_model_dir, tmp_path):
    clip = _two_stream_mkv(evidence_dir / "two.mkv")
    code, out, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "a", "--frames", 4,
                             "--model", tiny_model_dir)
    assert code == 0, err
    assert "WARNING:" in out and "2 video streams" in out
    data = json.loads((tmp_path / "a" / "results.json").read_text())
    assert data["evidence"]["width"] == 64 and len(data["evidence"]["video_streams"]) == 2
    assert any("--stream" in w for w in data["warnings"])
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "b", "--frames", 4,
                           "--stream", 1, "--model", tiny_model_dir)
    assert code == 0, err
    data = json.loads((tmp_path / "b" / "results.json").read_text())
    assert data["evidence"]["width"] == 96 and data["evidence"]["stream"] == 1


@pytest.mark.shared
def test_damaged_timing_is_not_read_as_a_short_confident_clip(capsys, evidence_dir, shared_data,
                                                               tiny_model_dir, tmp_path):
    """Issue 33 (3): with its mdhd time scale 0 a shared clip was analysed as one sampled
    frame at 0.00195 fps lasting 512 s, verdict 'very confident'. Now every frame is sampled
    from, the rate is the codec's, the warning is in results.json and on the terminal, and
    the band is never above moderate."""
    from media_factory import make_damaged_timing

    clip = make_damaged_timing(shared_data / "videos/real/liveportrait_d0.mp4",
                               evidence_dir / "timescale0.mp4", "timescale0")
    code, out, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--frames", 16,
                             "--model", tiny_model_dir)
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    ev = data["evidence"]
    assert (ev["frame_count"], ev["fps"]) == (78, 25.0)
    assert ev["duration_s"] == pytest.approx(3.12)
    assert len(data["sampled_frames"]) == 16
    assert any(w.startswith("the container's timing is implausible") for w in data["warnings"])
    assert "timing is implausible" in out
    assert data["prediction"]["band"] not in ("confident", "very confident")


def test_damaged_file_cannot_escape_its_warning(capsys, evidence_dir, tiny_model_dir, tmp_path):
    """A copy cut mid-GOP: its packets promise frames that never decode."""
    from media_factory import make_headless_copy

    whole = make_video(tmp_path / "whole.mp4", n_frames=40, gop=20)
    clip = make_headless_copy(whole, evidence_dir / "cut.mkv", drop_packets=3)
    code, out, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--frames", 5,
                             "--model", tiny_model_dir)
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    ev = data["evidence"]
    assert ev["frames_in_file"] > ev["frame_count"]
    assert any("decode" in w for w in data["warnings"]) and "WARNING:" in out
    assert data["prediction"]["band"] not in ("confident", "very confident")


BAD_CARDS = {
    "threshold NaN": ("threshold", float("nan")),
    "threshold 0": ("threshold", 0.0),
    "threshold 1.5": ("threshold", 1.5),
    "temperature 0": ("temperature_spatial", 0.0),
    "temperature -1": ("temperature_temporal", -1.0),
    "sha256 empty": ("sha256", ""),
    "sha256 short": ("sha256", "abc123"),
    "threshold a string": ("threshold", "0.5"),
    "fusion unknown": ("fusion", "max"),
    "name a number": ("name", 7),
    "depth zero": ("temporal", {"depth": 0}),
    "dropout 1": ("spatial", {"dropout": 1.0}),
    "distance bias a number": ("temporal", {"distance_bias": 1}),
    "unknown field": ("colour", "blue"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CARDS))
def test_invalid_model_card_is_exit_3(kind, tiny_model_dir, tmp_path):
    from forensics_app.core.errors import ModelError
    from forensics_app.core.models.registry import read_card

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    card = json.loads((model / CARD_FILE).read_text())
    field, value = BAD_CARDS[kind]
    if isinstance(value, dict):
        card[field] = {**card[field], **value}
    else:
        card[field] = value
    (model / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError) as info:
        read_card(model)
    message = str(info.value)
    assert info.value.exit_code == 3 and "\n" not in message
    assert CARD_FILE in message and field in message


def test_binary_card_and_nan_threshold_through_the_cli(capsys, evidence_dir, tiny_model_dir,
                                                      tmp_path):
    clip = make_video(evidence_dir / "clip.mp4", n_frames=6)
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    text = (model / CARD_FILE).read_text()
    (model / CARD_FILE).write_text(text.replace('"threshold": 0.5', '"threshold": NaN'))
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--model", model)
    assert code == 3 and "threshold" in assert_one_line_error(err, CARD_FILE)
    (model / CARD_FILE).write_bytes(b"\xff\xfe\x00binary")
    code, _, err = run_cli(capsys, "analyze", clip, "--out", tmp_path / "o", "--model", model)
    assert code == 3 and "unreadable" in assert_one_line_error(err, CARD_FILE)


def test_help_and_usage_errors_import_no_engine(tmp_path):
    """`--help` and usage errors answer before torch, mediapipe or PyAV are imported (that
    is what made every call take seconds); the time itself is measured in the README."""
    probe = ("import sys\nfrom forensics_app.cli import main\n"
             "for argv in (['--help'], ['analyze', '--help'], ['report', '--help'],"
             " ['analyze', 'x.mp4', '--out', 'o', '--batch-size', '0'], ['nonsense', '-z']):\n"
             "    try:\n        code = main(argv)\n    except SystemExit as e:\n"
             "        code = e.code\n    print(argv[0], code)\n"
             "heavy = [m for m in ('torch', 'mediapipe', 'av', 'cv2') if m in sys.modules]\n"
             "print('heavy', heavy)\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert "heavy []" in run.stdout, run.stdout + run.stderr
    assert "analyze 64" in run.stdout and "Traceback" not in run.stderr


@pytest.mark.parametrize("stage", ["[1/", "[3/"])
def test_ctrl_c_is_clean_at_any_moment(stage, evidence_dir, tiny_model_dir, tmp_path):
    """Ctrl-C once the command runs (the interpreter's own start-up, before any code of the
    app, is Python's): after hashing (the engine still loading) and after the faces stage."""
    import signal

    clip = make_video(evidence_dir / "clip.mp4", n_frames=30)
    proc = subprocess.Popen([sys.executable, "-m", "forensics_app", "analyze", str(clip),
                             "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir),
                             "--frames", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = []
    for line in proc.stderr:  # progress lines, one per stage
        seen.append(line)
        if line.startswith(stage):
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=300)
    err = "".join(seen) + rest
    assert "Traceback" not in err, err
    assert proc.returncode in (130, 0), err
    if proc.returncode == 130:
        assert err.strip().splitlines()[-1] == "forensics-app: interrupted"
        out = tmp_path / "o"
        assert not out.exists() or read_results(out)  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_analyze_into_a_case_is_hashed_in_and_audited(capsys, tiny_model_dir, tmp_path,
                                                      evidence_dir):
    # The CLI drives the same Session as the GUI: evidence hashed into the case first, the
    # analysis in CASE/analyses/<id>, each step in the audit chain, a report found in the case.
    from forensics_app.core.case import Case

    clip = make_video(evidence_dir / "clip.mp4", n_frames=8)
    case = Case.create(tmp_path / "case", "C-7", "examiner A")
    code, _, err = run_cli(capsys, "analyze", clip, "--case", case.folder, "--frames", 4,
                             "--model", tiny_model_dir, "--device", "cpu",
                             "--report", tmp_path / "reports" / "r.pdf")
    assert code == 0, err
    read_results(case.folder / "analyses" / "E001")
    events = [line["event"] for line in Case.open(case.folder).audit_log()
              if line["event"] != "case opened"]  # each open is audited too
    assert events[1:] == ["evidence added and hashed", "analysis queued", "analysed",
                          "evidence verified for report", "report exported"], events
    assert Case.open(case.folder).audit_chain_ok()

    # A second video into the same case: its own evidence id and folder beside the first.
    second = make_video(evidence_dir / "second.mp4", n_frames=6)
    code, _, err = run_cli(capsys, "analyze", second, "--case", case.folder, "--frames", 4,
                           "--model", tiny_model_dir, "--device", "cpu")
    assert code == 0, err
    read_results(case.folder / "analyses" / "E002")
    # Again into the same evidence's folder: refused up front (exit 5), the case untouched.
    before = (case.folder / "audit.log").read_bytes()
    code, _, err = run_cli(capsys, "analyze", clip, "--out", case.folder / "analyses" / "E001",
                           "--frames", 4, "--model", tiny_model_dir, "--device", "cpu")
    assert code == 5, err
    assert (case.folder / "audit.log").read_bytes() == before


def test_an_exhibit_analysed_twice_keeps_both_and_a_report_names_the_one_it_is_of(
        capsys, tiny_model_dir, tmp_path, evidence_dir):
    """Issue 33 (2): a second `analyze --case` of one exhibit failed ("output folder already
    holds results"); --out elsewhere left it outside the case."""
    from pypdf import PdfReader

    from forensics_app.core.case import Case

    clip = make_video(evidence_dir / "clip.mp4", n_frames=10)
    case = Case.create(tmp_path / "case", "C-12", "examiner A")
    for frames in (4, 6):
        code, _, err = run_cli(capsys, "analyze", clip, "--case", case.folder, "--frames",
                               frames, "--model", tiny_model_dir, "--device", "cpu")
        assert code == 0, err
    analyses = case.folder / "analyses"
    first, second = read_results(analyses / "E001"), read_results(analyses / "E001-A002")
    assert (len(first.results.sampled_frames), len(second.results.sampled_frames)) == (4, 6)
    assert [p.name for p in case.analysis_dirs("E001")] == ["E001", "E001-A002"]
    audited = [(r["analysis"], r["frames"]) for r in case.audit_log()
               if r["event"] == "analysed"]
    assert audited == [("E001", 4), ("E001-A002", 6)]
    assert [label.split(":")[0] for _, label in case.analysis_labels("E001")] == \
        ["E001", "E001-A002"]
    for wanted, line in (("E001", "analyses/E001-A002: analysis 2 of 2 of E001"),
                         ("E001-A001", "analyses/E001: analysis 1 of 2 of E001")):
        pdf = tmp_path / f"{wanted}.pdf"
        code, _, err = run_cli(capsys, "report", case.folder, "--evidence", wanted, "--out", pdf)
        assert code == 0, err
        text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
        assert line in text, wanted
    code, _, err = run_cli(capsys, "report", case.folder, "--evidence", "E001-A003", "--out",
                           tmp_path / "none.pdf")
    assert code != 0 and "no analysis E001-A003" in assert_one_line_error(err, "case")
    assert case.audit_chain_ok()


def test_an_analysis_killed_in_a_case_leaves_nothing_and_the_exhibit_is_analysed_again(
        tiny_model_dir, tmp_path, evidence_dir):
    """kill -9 during `analyze --case`: no results that read as complete, and the lock file
    it leaves is recognised as stale (its process gone), removed and audited by the next run,
    which then analyses the exhibit."""
    import signal

    from forensics_app.core.case import Case

    clip = make_video(evidence_dir / "clip.mp4", n_frames=40)
    case = Case.create(tmp_path / "case", "C-13", "examiner A")
    command = [sys.executable, "-m", "forensics_app", "analyze", str(clip), "--case",
               str(case.folder), "--model", str(tiny_model_dir), "--frames", "12"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("[3/"):  # the lock is held and the faces are found
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    analyses = case.folder / "analyses"
    left = sorted(p.name for p in analyses.iterdir())
    assert ".E001.lock" in left and case.analysis_dirs("E001") == [], left
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in analyses.iterdir()) == ["E001"]
    read_results(analyses / "E001")
    events = [r["event"] for r in Case.open(case.folder).audit_log()]
    assert events.count("unfinished analysis cleared") == 1 and events.count("analysed") == 1
    assert Case.open(case.folder).audit_chain_ok()


def test_analyze_into_a_case_folder_of_other_evidence_is_refused(capsys, tiny_model_dir,
                                                                 tmp_path, evidence_dir):
    from forensics_app.core.case import Case

    first = make_video(evidence_dir / "a.mp4", n_frames=4)
    other = make_video(evidence_dir / "b.mp4", n_frames=5)
    case = Case.create(tmp_path / "case", "C-8", "examiner A")
    case.add_evidence(first)
    for out, message in ((case.folder / "analyses" / "E001", "is " + str(first)),
                         (case.folder / "analyses" / "E002", "no evidence E002")):
        code, _, err = run_cli(capsys, "analyze", other, "--out", out, "--model",
                               tiny_model_dir, "--device", "cpu")
        assert code == 1 and message in assert_one_line_error(err, str(case.folder)), err
        assert not out.exists()
    code, _, err = run_cli(capsys, "analyze", other, "--case", tmp_path / "nocase")
    assert code != 0 and "not a case folder" in assert_one_line_error(err, "nocase")


def test_the_verdict_counts_unusual_frames_so_frame_zero_does_not_read_as_none(
        tmp_path, capsys) -> None:
    """A marker on video frame 0 once printed as "unusual frames: 0", read as "no frame"."""
    from dataclasses import replace

    from test_results import make_bundle

    from forensics_app.cli.analyze import print_verdict

    results = make_bundle(tmp_path / "evidence")[0]
    print_verdict(replace(results, unusual_frames=[0]), tmp_path / "out")
    assert "unusual:    1 frame (video frame 0)" in capsys.readouterr().out
    print_verdict(replace(results, unusual_frames=[]), tmp_path / "out")
    assert "unusual" not in capsys.readouterr().out


def test_models_lists_each_cards_held_out_figures_and_unmet_targets(capsys):
    """`forensics-app models` says, per installed model, how it did held out and which of the
    project's targets it misses, from its card: the same rows as MODEL_CARD.md."""
    from forensics_app.core.models.figures import held_out_figures, unmet_targets
    from forensics_app.core.models.registry import DEFAULT_MODEL, REPO_MODELS_DIR, read_card

    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    card = read_card(REPO_MODELS_DIR / DEFAULT_MODEL)
    for row in held_out_figures(card.metrics):
        if row.target:
            assert f"{row.measurement}: {row.figure} (target {row.target})" in out
    unmet = unmet_targets(card.metrics)
    assert "targets not reached: " + ("; ".join(unmet) if unmet else "none") in out
    assert "sbi-effnetlite0-vit 0.1.0" in out and "held out: no figures on its card" in out
