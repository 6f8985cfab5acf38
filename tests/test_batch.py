"""`forensics-app batch`: resume, per-file failure isolation, the summary's contents, and the
same results on a local Ray instance as in this process."""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from media_factory import make_video

from forensics_app.cli import batch as batch_cli
from forensics_app.core.analysis.drive import run_to_end
from forensics_app.core.analysis.results import LABELS, MANIFEST_FILE, RESULTS_FILE
from forensics_app.core.batch import (
    INDEX_HTML,
    RESULTS_DIR,
    SUMMARY_CSV,
    collect_inputs,
    plan_batch,
    run_batch,
)
from forensics_app.core.errors import EvidenceError, ForensicsError


def run_cli(*args) -> int:
    """The batch subcommand as `forensics-app batch ...` runs it (its own parser, so that a
    broken sibling subcommand cannot hide what this one does)."""
    parser = argparse.ArgumentParser(prog="forensics-app")
    batch_cli.register(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(["batch", *map(str, args)])
    try:
        return parsed.run(parsed)
    except ForensicsError as err:
        print(f"forensics-app: error: {err}", file=sys.stderr)
        return err.exit_code


def read_summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / SUMMARY_CSV, newline="", encoding="utf-8") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("evidence")
    make_video(folder / "clip_a.mp4", n_frames=12, width=96, height=64, gop=6)
    (folder / "sub").mkdir()
    make_video(folder / "sub" / "clip_b.mkv", n_frames=10, width=96, height=64)
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    (folder / "notes.txt").write_text("not evidence\n")  # a folder scan picks videos only
    return folder


def test_summary_lists_every_file_and_failures_do_not_stop_the_batch(
        evidence, tiny_model_dir, tmp_path, capsys, one_torch_thread):
    (tmp_path / "lists").mkdir()  # not above --out: results never go inside an evidence folder
    listing = tmp_path / "lists" / "more.txt"
    listing.write_text(f"# extra files\n{evidence / 'clip_a.mp4'}\nmissing.mp4\n")
    out = tmp_path / "batch"
    code = run_cli(evidence, listing, "--out", out, "--frames", 4, "--model", tiny_model_dir,
                   "--device", "cpu")
    err = capsys.readouterr().err
    assert code == 1  # some files failed; the others were still analysed
    rows = read_summary(out)
    assert set(rows) == {"clip_a", "clip_b", "broken", "missing"}  # clip_a once, not twice
    for name in ("clip_a", "clip_b"):
        row = rows[name]
        assert row["status"] == "done" and row["error"] == ""
        assert row["verdict"] in LABELS and row["band"] and row["frames_analysed"] == "4"
        assert (out / row["result"]).name == RESULTS_FILE and (out / row["result"]).exists()
        assert (out / row["report"]).read_bytes()[:5] == b"%PDF-"
        assert (out / row["thumbnail"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
        assert (out / RESULTS_DIR / name / MANIFEST_FILE).exists()  # sealed
    assert rows["broken"]["status"] == "failed" and "broken.mp4" in rows["broken"]["error"]
    assert rows["missing"]["status"] == "failed" and "missing.mp4" in rows["missing"]["error"]
    assert rows["broken"]["result"] == "" and rows["broken"]["verdict"] == ""
    assert "failed  broken: " in err and "done    clip_a" in err
    page = (out / INDEX_HTML).read_text(encoding="utf-8")
    for name in ("clip_a", "clip_b"):
        row = rows[name]
        assert f'src="{row["thumbnail"]}"' in page
        assert f'href="{row["result"]}"' in page and f'href="{row["report"]}"' in page
        assert row["verdict"].upper() in page
    assert "not a video or image file" in page
    assert "4 files: 2 analysed, 0 finished before, 2 failed" in " ".join(page.split())


def test_rerun_never_redoes_a_finished_result_and_redoes_a_damaged_one(
        evidence, tiny_model_dir, tmp_path, capsys, one_torch_thread):
    out = tmp_path / "batch"
    videos = [evidence / "clip_a.mp4", evidence / "sub" / "clip_b.mkv"]
    args = [*videos, "--out", out, "--frames", 3, "--model", tiny_model_dir, "--device", "cpu",
            "--no-reports"]
    assert run_cli(*args) == 0
    first = read_summary(out)
    sealed = {n: (out / RESULTS_DIR / n / MANIFEST_FILE).stat() for n in first}
    capsys.readouterr()

    assert run_cli(*args) == 0
    err = capsys.readouterr().err
    again = read_summary(out)
    assert {r["status"] for r in again.values()} == {"skipped"}
    assert "skipped clip_a" in err and "skipped clip_b" in err
    for name, stat in sealed.items():  # not rewritten: the very same files
        now = (out / RESULTS_DIR / name / MANIFEST_FILE).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
        assert again[name]["verdict"] == first[name]["verdict"]
        assert again[name]["p_fake"] == first[name]["p_fake"]

    # An interrupted or edited result is not finished: moved aside (kept), analysed again.
    damaged = out / RESULTS_DIR / "clip_b" / RESULTS_FILE
    damaged.write_text(damaged.read_text().replace('"frames": 3', '"frames": 30'))
    assert run_cli(*args) == 0
    third = read_summary(out)
    assert third["clip_a"]["status"] == "skipped" and third["clip_b"]["status"] == "done"
    assert (out / RESULTS_DIR / "clip_b.incomplete-1" / RESULTS_FILE).exists()
    assert third["clip_b"]["p_fake"] == first["clip_b"]["p_fake"]


def test_two_worker_processes_give_the_results_of_one(evidence, tiny_model_dir, tmp_path,
                                                       capsys):
    videos = [evidence / "clip_a.mp4", evidence / "sub" / "clip_b.mkv"]
    rows = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert run_cli(*videos, "--out", out, "--frames", 3, "--model", tiny_model_dir,
                       "--device", "cpu", "--no-reports", "--workers", workers) == 0
        rows[workers] = read_summary(out)
    for name in ("clip_a", "clip_b"):
        for key in ("status", "verdict", "p_fake", "band", "frames_analysed", "sha256"):
            assert rows[1][name][key] == rows[2][name][key], (name, key)


def test_bad_batch_inputs_are_one_clear_error(tmp_path, capsys):
    assert run_cli(tmp_path / "nowhere", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("forensics-app: error:") == 1 and "nowhere" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EvidenceError, match="no video files"):
        collect_inputs([empty])
    assert not (tmp_path / "out").exists()  # nothing written
    make_video(empty / "clip.mp4", n_frames=3, width=32, height=32)
    assert run_cli(empty, "--out", empty / "batch") == 4  # inside the evidence folder
    err = capsys.readouterr().err
    assert err.count("forensics-app: error:") == 1 and "choose another --out" in err
    assert not (empty / "batch").exists()


RAY_HEAD = textwrap.dedent("""
    import sys
    import ray
    # loopback only: this machine may reach no other address, its own interfaces included
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
             _node_ip_address="127.0.0.1")
    print(ray.get_runtime_context().gcs_address, flush=True)
    sys.stdin.read()  # until the test closes the pipe
    ray.shutdown()
""")


@pytest.mark.slow
@pytest.mark.shared
def test_ray_gives_the_same_results_as_a_local_run(shared_data, tiny_model_dir, tmp_path,
                                                   monkeypatch):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install ray)")
    # Ray ≥ 2.52 may check a token the driver of another process does not hold
    # (InvalidAuthToken); this instance listens on loopback only and lives for the test.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    # Clips with a face, so that p_fake and the sampled faces are really compared.
    videos = [shared_data / "videos" / "real" / n for n in ("grid_bbaf2n.mpg", "grid_brbk7n.mpg")]
    settings = {"frames": 4, "device": "cpu"}
    local_items = plan_batch(videos, tmp_path / "local", settings, str(tiny_model_dir),
                             reports=False)
    ray_items = plan_batch(videos, tmp_path / "ray", settings, str(tiny_model_dir),
                           reports=False)
    local = _consume(run_batch(local_items, tmp_path / "local", workers=1))
    head, address = _start_ray_head()
    try:
        remote = _consume(run_batch(ray_items, tmp_path / "ray", ray_address=address))
    finally:
        head.stdin.close()
        head.wait(timeout=120)
    for a, b in zip(local.items, remote.items, strict=True):
        assert a.status == b.status == "done", (a.error, b.error)
        ra, rb = a.bundle.results, b.bundle.results
        assert ra.prediction.label == rb.prediction.label
        assert ra.prediction.p_fake == rb.prediction.p_fake
        assert ra.sampled_frames == rb.sampled_frames
        assert ra.frame_scores == rb.frame_scores
        assert [i.p_fake for i in ra.identities] == [i.p_fake for i in rb.identities]
        assert any(s is not None for s in ra.frame_scores)  # faces were found and scored


def _start_ray_head(attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """A local Ray instance in a child process (stopped by closing its stdin). Ray gives its
    raylet a fixed 30 s to start; on an overloaded machine that can run out: try again, then
    skip saying so (the comparison itself never gets skipped once Ray runs)."""
    for _ in range(attempts):
        head = subprocess.Popen([sys.executable, "-c", RAY_HEAD], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        address = head.stdout.readline().strip()
        if address:
            return head, address
        error = head.communicate(timeout=120)[1].strip().splitlines()[-1:]
    pytest.skip(f"a local Ray instance did not start in {attempts} attempts: {error}")


_consume = run_to_end
