"""Fuzzing `analyze` with seeded mutations of a small generated clip (issue 13).

Every mutant is analysed by the real command line, in one child process (one start-up for all)
under a timeout. Whatever the damage, the outcome must be one of two: exit 0 with a sealed
results folder that the one reader verifies, or a non-zero exit with exactly one error line
and nothing written. Never a traceback, never a hang, never a modified evidence file, never a
leftover temporary folder or lock. Bounded: 16 mutants of a 40-frame 96×64 clip, 4 frames each
(about a minute on the project's 2-core CPU while it trains).
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from media_factory import make_video

from forensics_app.core.analysis.results import read_results
from forensics_app.core.errors import ForensicsError

SEED = 13
MUTANTS = 16
PER_CASE_S = 120  # a hang shows as the stuck case's stack, then a failure
STARTUP_S = 300  # importing the engine once, before the first case (a loaded machine is slow)

DRIVER = r"""
import contextlib, faulthandler, io, json, sys
from forensics_app.cli import main
import forensics_app.core.analysis.job  # the engine's imports, once, before the clock runs
cases = json.loads(sys.argv[1])
for case in cases:
    faulthandler.dump_traceback_later(int(sys.argv[2]), exit=True)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(case["argv"])
        except BaseException as exc:  # escaped main: a traceback for the user
            import traceback
            traceback.print_exc(file=err)
            code = "escaped"
    faulthandler.cancel_dump_traceback_later()
    print(json.dumps({"name": case["name"], "code": code, "stderr": err.getvalue()}),
          flush=True)
"""


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One seeded kind of damage a copy, a download or a disk does to a file."""
    out = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "zero", "splice", "insert", "header"])
    if kind == "flip":
        for _ in range(rng.randint(1, 40)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del out[rng.randrange(1, len(out)):]
    elif kind == "zero":
        start = rng.randrange(len(out))
        out[start:start + rng.randint(16, 4096)] = bytes(min(len(out) - start, 4096))
    elif kind == "splice":  # a block of the file repeated elsewhere
        a, b = sorted(rng.randrange(len(out)) for _ in range(2))
        at = rng.randrange(len(out))
        out[at:at] = out[a:b][:8192]
    elif kind == "insert":
        at = rng.randrange(len(out))
        out[at:at] = rng.randbytes(rng.randint(1, 512))
    else:  # the container header overwritten
        out[:64] = rng.randbytes(64)
    return kind, bytes(out)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_fuzzed_media_is_sealed_or_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    clip = make_video(tmp_path / "clip.mp4", n_frames=40, width=96, height=64, gop=10)
    rng = random.Random(SEED)
    cases, hashes, kinds = [], {}, {}
    for n in range(MUTANTS):
        kind, data = mutate(clip.read_bytes(), rng)
        path = evidence / f"mutant{n:02d}.mp4"
        path.write_bytes(data)
        hashes[path.name], kinds[path.name] = sha256(path), kind
        cases.append({"name": path.name, "argv": [
            "analyze", str(path), "--out", str(tmp_path / "out" / path.stem), "--frames", "4",
            "--model", str(tiny_model_dir), "--device", "cpu", "--quiet"]})
    run = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cases), str(PER_CASE_S)],
                         capture_output=True, text=True, timeout=STARTUP_S + PER_CASE_S * MUTANTS)
    outcomes = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(outcomes) == MUTANTS, run.stdout[-2000:] + run.stderr[-4000:]
    tally: Counter[str] = Counter()
    for outcome in outcomes:
        name, code, err = outcome["name"], outcome["code"], outcome["stderr"]
        out = tmp_path / "out" / Path(name).stem
        assert "Traceback" not in err and code != "escaped", f"{name}: {err}"
        assert sha256(evidence / name) == hashes[name], f"{name}: evidence modified"
        if code == 0:
            try:
                read_results(out)  # sealed, and the seal and contents verify
            except ForensicsError as failure:
                pytest.fail(f"{name} ({kinds[name]}): exit 0 but {failure}")
            tally["sealed"] += 1
        else:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("forensics-app: error:"), \
                f"{name}: {err}"
            assert not out.exists(), f"{name}: refused but {out} was written"
            tally[f"exit {code}"] += 1
    assert sorted(p.name for p in evidence.iterdir()) == sorted(hashes)  # nothing beside it
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] \
        if (tmp_path / "out").exists() else []
    assert leftovers == []
    print(f"\nfuzz outcomes over {MUTANTS} mutants (seed {SEED}): {dict(sorted(tally.items()))}")
