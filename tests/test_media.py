"""The media layer: frame-exact access, metadata, hashing and evidence errors.

Synthetic clips (tests/media_factory.py) draw their own frame number into the pixels, so
every check of "which frame did we get" reads the picture itself, not our own index.
"""

from __future__ import annotations

import hashlib
import random
import threading
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest
from media_factory import (
    make_audio_only,
    make_damaged_timing,
    make_headless_copy,
    make_no_decoder,
    make_still,
    make_trimmed_copy,
    make_truncated,
    make_video,
    make_zero_frames,
    read_frame_number,
)

from forensics_app.core.errors import CancelledError, EvidenceError
from forensics_app.core.media import (
    FileHashes,
    VideoInfo,
    VideoSource,
    hash_file,
    sample_indices,
)
from forensics_app.core.media.framestore import FrameStore

VFR_PTS_MS = [0, 40, 80, 200, 210, 220, 500, 540, 580, 1000]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny synthetic clips shared by the module (encoding is the slow part)."""
    d = tmp_path_factory.mktemp("clips")
    gop10 = make_video(d / "gop10.mp4", n_frames=60, width=64, height=48, gop=10)
    return {
        "gop10": gop10,
        "long_gop": make_video(d / "long_gop.mp4", n_frames=90, width=64, height=48, gop=90),
        "gop40": make_video(d / "gop40.mp4", n_frames=120, width=64, height=48, gop=40),
        "vfr": make_video(d / "vfr.mp4", n_frames=10, width=64, height=48, vfr_pts=VFR_PTS_MS),
        "raw": make_video(d / "raw.h264", n_frames=30, width=64, height=48, gop=10),
        "trimmed": make_trimmed_copy(gop10, d / "trimmed.mp4", skip_frames=5),
        "headless": make_headless_copy(gop10, d / "headless.mkv", drop_packets=5),
        "with_audio": make_video(d / "av.mp4", n_frames=20, width=64, height=48, with_audio=True),
        "ts": make_video(d / "gop10.ts", n_frames=60, width=64, height=48, gop=10),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def numbers(src: VideoSource, indices: list[int]) -> list[int]:
    return [read_frame_number(src.frame(i)) for i in indices]


# ---- frame exactness ------------------------------------------------------------------


def test_random_access_is_frame_exact(clips: dict[str, Path]) -> None:
    rng = random.Random(7)
    far_and_back = [0, 59, 1, 58, 30, 29, 31, 10, 9, 11, 45, 45, 45, 2, 57]
    order = far_and_back + [rng.randrange(60) for _ in range(40)]
    with VideoSource(clips["gop10"], cache_size=0) as src:  # no cache: every read decodes
        assert src.info.frame_count == 60
        assert numbers(src, order) == order


@pytest.mark.parametrize(("clip", "max_cost"), [("gop10", 13), ("ts", 23)])
def test_random_access_decodes_about_one_gop(
    clips: dict[str, Path], clip: str, max_cost: int
) -> None:
    # Seeking must land on the target's own keyframe (GOP 10), not a GOP early (seeking by
    # dts does that in mp4) nor at the start. MPEG-TS seeks land a little late, so one
    # keyframe further back is allowed there.
    with VideoSource(clips[clip], cache_size=0) as src:
        assert src.frames_decoded <= 16  # the head check, at worst twice: no full decode
        for target in [59, 5, 35, 22, 48, 9, 0, 57]:
            before = src.frames_decoded
            assert read_frame_number(src.frame(target)) == target
            assert src.frames_decoded - before <= max_cost, target


def test_cache_returns_private_copies(clips: dict[str, Path]) -> None:
    with VideoSource(clips["gop10"], cache_size=4) as src:
        first = src.frame(20)
        first[:] = 0  # a caller drawing on its frame must not change the cached one
        again = src.frame(20)
        assert read_frame_number(again) == 20
        assert again.dtype == np.uint8 and again.shape == (48, 64, 3)


def test_sequential_stepping_does_not_seek(clips: dict[str, Path]) -> None:
    with VideoSource(clips["gop10"], cache_size=0) as src:
        src.frame(12)
        seeks = src.seek_count
        assert numbers(src, list(range(13, 60))) == list(range(13, 60))
        assert src.seek_count == seeks  # across 5 keyframes, never a seek
        src.frame(15)  # a small forward gap within the GOP: decode on, no seek
        src.frame(18)
        assert src.seek_count == seeks + 1  # 15 < 59: one seek back, then decode on


def test_stepping_backwards_is_exact_and_prefetched(clips: dict[str, Path]) -> None:
    with VideoSource(clips["gop10"], cache_size=32) as src:
        src.frame(59)
        decoded = src.frames_decoded
        backwards = list(range(58, -1, -1))
        assert numbers(src, backwards) == backwards
        # Without prefetching each step back re-decodes from its keyframe: ~5.5 frames a
        # step here (GOP 10). With it, most steps are cache hits.
        assert src.frames_decoded - decoded <= 2 * len(backwards)


def test_iter_frames_yields_requested_set_in_order(clips: dict[str, Path]) -> None:
    wanted = [50, 3, 3, 17, 49, 0, 31, 59]
    with VideoSource(clips["gop10"], cache_size=0) as src:
        got = [(i, read_frame_number(rgb)) for i, rgb in src.iter_frames(wanted)]
    expected = sorted(set(wanted))
    assert got == [(i, i) for i in expected]


def test_iter_frames_is_one_forward_pass(clips: dict[str, Path]) -> None:
    with VideoSource(clips["gop10"], cache_size=0) as src:
        seeks = src.seek_count
        every_other = list(range(1, 60, 2))
        assert [read_frame_number(f) for _, f in src.iter_frames(every_other)] == every_other
        assert src.seek_count - seeks <= 1  # at most the initial seek back to the start
        seeks = src.seek_count
        # Jumping over whole GOPs is where a seek pays: 2 → 45 must seek, 45 → 47 must not.
        assert [i for i, _ in src.iter_frames([2, 45, 47])] == [2, 45, 47]
        assert src.seek_count - seeks == 2


def test_iter_frames_rejects_out_of_range(clips: dict[str, Path]) -> None:
    with VideoSource(clips["gop10"]) as src, pytest.raises(IndexError):
        list(src.iter_frames([1, 60]))


def test_bframes_and_long_gop(clips: dict[str, Path]) -> None:
    # The clip must really reorder frames, or this test proves nothing.
    with av.open(str(clips["long_gop"])) as c:
        packets = [p for p in c.demux(video=0) if p.size]
    pts_in_decode_order = [p.pts for p in packets]
    assert pts_in_decode_order != sorted(pts_in_decode_order)
    assert sum(p.is_keyframe for p in packets) == 1
    order = [89, 45, 44, 88, 1, 0, 60, 61, 62, 30]
    with VideoSource(clips["long_gop"], cache_size=0) as src:
        # The index comes from demuxing: opening decodes only the few head-check frames.
        assert src.frames_decoded <= 8
        assert numbers(src, order) == order
        assert src.info.pts == tuple(sorted(pts_in_decode_order))


def _sequential_decode(path: Path) -> list[np.ndarray]:
    """Every frame, in order, by a plain decode: the reference random access must match."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _nonref_count(path: Path) -> int:
    """Frames a decoder told to skip non-reference pictures drops over the whole clip."""
    with av.open(str(path)) as c:
        total = sum(1 for p in c.demux(video=0) if p.size)
        c.seek(0)
        c.streams.video[0].codec_context.skip_frame = "NONREF"
        return total - sum(1 for _ in c.decode(video=0))


def test_seek_skipping_nonref_frames_is_frame_exact(clips: dict[str, Path]) -> None:
    # Decoding forward to a seek target skips non-reference pictures (B-frames) before it.
    # Every frame must still be the very picture a sequential decode gives: reached by a
    # seek, right after a keyframe, right before the next one, and stepping on from there.
    path = clips["gop40"]  # 3 GOPs of 40, B-frames that reorder
    assert _nonref_count(path) >= 40  # or this test proves nothing
    reference = _sequential_decode(path)
    n = len(reference)
    with VideoSource(path, cache_size=0) as src:
        assert len(src) == n == 120
        for i in range(n):
            src.frame((i + n // 2) % n)  # elsewhere first: `i` needs a seek or a long decode
            got = src.frame(i)
            assert np.array_equal(got, reference[i]), i
            assert read_frame_number(got) == i
        edges = [0, 1, 2, 3, 37, 38, 39, 40, 41, 78, 79, 80, 81, 117, 118, 119]
        rng = random.Random(11)
        for target in edges + [rng.randrange(n) for _ in range(30)]:
            src.frame(n - 1 - target)
            seeks = src.seek_count
            # Seek, then step on: the frames after the target must all be there (not skipped).
            for i in range(target, min(n, target + 6)):
                assert np.array_equal(src.frame(i), reference[i]), (target, i)
            assert src.seek_count - seeks <= 2  # the seek itself (MPEG-TS-style retry aside)


def test_seek_to_far_target_skips_nonref_decoding(clips: dict[str, Path]) -> None:
    path = clips["gop40"]
    reference = _sequential_decode(path)
    with VideoSource(path, cache_size=0) as src:
        src.frame(119)
        before = src.frames_decoded
        got = src.frame(39)  # the last frame before the 2nd keyframe: 39 frames after frame 0
        assert np.array_equal(got, reference[39])
        # Frames 0..38 all decoded would be 40; about half of them are non-reference.
        assert src.frames_decoded - before < 32
        # Stepping on from a skipping seek decodes every frame and never seeks.
        seeks = src.seek_count
        assert all(np.array_equal(src.frame(i), reference[i]) for i in range(40, 60))
        assert src.seek_count == seeks


@pytest.mark.parametrize("cache_size", [0, 32])
def test_backward_steps_and_sparse_passes_stay_exact(
    clips: dict[str, Path], cache_size: int
) -> None:
    # Backward steps keep the frames just before the target (decoded in full); a sparse
    # iter_frames pass skips non-reference frames between the wanted ones.
    path = clips["gop40"]
    reference = _sequential_decode(path)
    with VideoSource(path, cache_size=cache_size) as src:
        for i in range(119, 60, -1):
            assert np.array_equal(src.frame(i), reference[i]), i
        wanted = [0, 3, 17, 38, 39, 40, 44, 63, 79, 80, 101, 119]
        got = list(src.iter_frames(wanted))
        assert [i for i, _ in got] == wanted
        for i, rgb in got:
            assert np.array_equal(rgb, reference[i]), i


def test_decode_all_counts_every_frame(clips: dict[str, Path]) -> None:
    seen: list[int] = []
    with VideoSource(clips["gop10"]) as src:
        assert src.decode_all(lambda i, frame: seen.append(i)) == 60
        assert read_frame_number(src.frame(33)) == 33  # still usable afterwards
    assert seen == list(range(60))


def test_out_of_range_indices_raise_index_error(clips: dict[str, Path]) -> None:
    with VideoSource(clips["gop10"]) as src:
        for bad in (-1, 60, 1000):
            with pytest.raises(IndexError):
                src.frame(bad)
            with pytest.raises(IndexError):
                src.timestamp(bad)
        assert len(src) == 60
        assert read_frame_number(src.frame(np.int64(7))) == 7  # numpy indices are fine


# ---- timing -----------------------------------------------------------------------------


def test_vfr_index_timestamp_mapping(clips: dict[str, Path]) -> None:
    with VideoSource(clips["vfr"]) as src:
        info = src.info
        assert info.frame_count == len(VFR_PTS_MS)
        times = [src.timestamp(i) for i in range(info.frame_count)]
        assert times == pytest.approx([ms / 1000 for ms in VFR_PTS_MS], abs=1e-6)
        assert [src.pts(i) * info.time_base for i in range(10)] == pytest.approx(times)
        assert [src.index_at_time(t) for t in times] == list(range(10))
        assert src.index_at_time(0.205) == 3  # between 0.200 and 0.210: the one shown
        assert src.index_at_time(0.499) == 5
        assert src.index_at_time(-1.0) == 0
        assert src.index_at_time(99.0) == 9
        assert info.fps == pytest.approx(info.frame_count / info.duration_s)
        assert 1.0 <= info.duration_s < 1.1
        assert numbers(src, [9, 3, 6, 0]) == [9, 3, 6, 0]


def test_constant_rate_metadata(clips: dict[str, Path]) -> None:
    with VideoSource(clips["with_audio"]) as src:
        info = src.info
    assert isinstance(info, VideoInfo)
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.codec == "h264"
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(20 / 25)
    assert not info.is_still_image
    assert len(info.pts) == info.frame_count == 20


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_display_rotation_is_applied(tmp_path: Path, rotation: int) -> None:
    path = make_video(tmp_path / "rot.mp4", n_frames=6, width=64, height=48, rotation=rotation)
    with VideoSource(path) as src:
        assert src.info.rotation == rotation
        assert (src.info.width, src.info.height) == (64, 48)  # displayed size
        frame = src.frame(4)
    assert frame.shape == (48, 64, 3)
    # The orientation markers only read back when the picture is turned the right way.
    assert read_frame_number(frame) == 4


# ---- files the demuxer and decoder disagree about ---------------------------------------


def test_edit_list_preroll_is_not_counted(clips: dict[str, Path]) -> None:
    # The copy starts at source frame 5; the GOP's earlier packets are flagged discard.
    with VideoSource(clips["trimmed"], cache_size=0) as src:
        assert src.frames_decoded <= 8  # discard-flagged packets left out: no fallback
        assert src.info.frame_count == 55
        assert src.timestamp(0) == 0.0
        order = [0, 54, 1, 4, 5, 6, 30, 2]
        assert numbers(src, order) == [i + 5 for i in order]


def test_undecodable_head_falls_back_to_decoded_index(clips: dict[str, Path]) -> None:
    # The demuxer lists packets whose frames never come out (no keyframe before them):
    # the head check notices and the index is rebuilt from what the decoder outputs.
    with VideoSource(clips["headless"], cache_size=0) as src:
        assert src.info.frame_count == 50  # source frames 10..59
        assert src.frames_decoded >= 50  # the index came from a full decode
        order = [0, 49, 1, 25, 24, 0]
        assert numbers(src, order) == [i + 10 for i in order]


def test_stream_without_pts_counts_frames(clips: dict[str, Path]) -> None:
    with VideoSource(clips["raw"], cache_size=0) as src:  # raw H.264: no timestamps
        assert src.info.frame_count == 30
        assert src.info.container == "h264"
        assert src.timestamp(25) == pytest.approx(1.0)
        order = [29, 3, 2, 15, 16, 0]
        assert numbers(src, order) == order


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_still_image_is_one_frame_source(tmp_path: Path, suffix: str) -> None:
    path = make_still(tmp_path / f"face{suffix}", number=7, width=64, height=48)
    with VideoSource(path) as src:
        info = src.info
        assert info.is_still_image
        assert (info.frame_count, info.fps, info.duration_s) == (1, 1.0, 0.0)
        assert (info.width, info.height) == (64, 48)
        assert read_frame_number(src.frame(0)) == 7
        assert [i for i, _ in src.iter_frames([0])] == [0]
        with pytest.raises(IndexError):
            src.frame(1)


# ---- sample_indices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_count", "count", "start", "end"),
    [(100, 10, 0, None), (1000, 100, 0, None), (301, 100, 0, None), (100, 7, 20, 41)],
)
def test_sample_indices_spread(frame_count: int, count: int, start: int, end: int | None) -> None:
    got = sample_indices(frame_count, count, start, end)
    stop = frame_count if end is None else end
    assert len(got) == count
    assert got[0] == start
    assert all(a < b for a, b in pairwise(got))
    assert all(start <= i < stop for i in got)
    gaps = [b - a for a, b in pairwise(got)] + [stop - got[-1]]
    assert max(gaps) - min(gaps) <= 1  # uniform, tail included


def test_sample_indices_short_segment_returns_all() -> None:
    assert sample_indices(5, 10) == [0, 1, 2, 3, 4]
    assert sample_indices(100, 10, 40, 43) == [40, 41, 42]
    assert sample_indices(1, 100) == [0]


@pytest.mark.parametrize(
    "args",
    [
        (0, 5, 0, None),
        (10, 0, 0, None),
        (10, 3, 5, 5),
        (10, 3, 6, 5),
        (10, 3, 0, 11),
        (10, 3, -1, 5),
    ],
)
def test_sample_indices_rejects_bad_ranges(args: tuple[int, int, int, int | None]) -> None:
    with pytest.raises(ValueError):
        sample_indices(*args)


# ---- hashing ----------------------------------------------------------------------------


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(random.Random(3).getrandbits(8) for _ in range(10_007))
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    got = hash_file(path, chunk_size=1000)  # several chunks and a short last one
    assert got == FileHashes(
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size_bytes=len(data),
    )
    assert hash_file(path) == got  # chunking does not change the result


def test_hash_file_errors_and_cancel(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="not found"):
        hash_file(tmp_path / "missing.mp4")
    with pytest.raises(EvidenceError, match="directory"):
        hash_file(tmp_path)
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 5000)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        hash_file(path, chunk_size=1000, cancel=cancel)


# ---- evidence errors --------------------------------------------------------------------


def _bad_inputs(d: Path, good: Path) -> dict[str, tuple[Path, str]]:
    (d / "folder.mp4").mkdir()
    (d / "empty.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    return {
        "missing": (d / "missing.mp4", "not found"),
        "directory": (d / "folder.mp4", "directory"),
        "empty": (d / "empty.mp4", "empty"),
        "text": (d / "notes.mp4", "not a video or image"),
        "audio_only": (make_audio_only(d / "audio.mp4"), "no video stream"),
        "zero_frames": (make_zero_frames(d / "zero.mkv"), "no frames"),
        "no_decoder": (make_no_decoder(d / "odd.mkv"), "unsupported video codec"),
        "truncated": (make_truncated(good, d / "cut.mp4", 0.5), "truncated or corrupt at frame"),
        # Cut late: the first frames decode fine, only the frame count gives it away.
        "truncated_late": (make_truncated(good, d / "late.mp4", 0.9), "header lists 60 frames"),
        "truncated_header": (make_truncated(good, d / "stub.mp4", 0.02), "truncated or corrupt"),
    }


def test_bad_evidence_gives_one_line_error_naming_the_file(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    cases = _bad_inputs(tmp_path, clips["gop10"])
    before = {name: sha256(p) for name, (p, _) in cases.items() if p.is_file()}
    listing = sorted(tmp_path.iterdir())
    for name, (path, expected) in cases.items():
        with pytest.raises(EvidenceError) as err:
            VideoSource(path)
        message = str(err.value)
        assert expected in message, name
        assert message.endswith(f": {path}"), name
        assert "\n" not in message, name
    # Opening never changes or creates anything.
    assert {name: sha256(cases[name][0]) for name in before} == before
    assert sorted(tmp_path.iterdir()) == listing


def test_good_evidence_is_unchanged_after_use(tmp_path: Path) -> None:
    path = make_video(tmp_path / "ev.mp4", n_frames=12, width=64, height=48)
    digest, mtime = sha256(path), path.stat().st_mtime_ns
    with VideoSource(path) as src:
        src.frame(11)
        list(src.iter_frames(range(12)))
        src.decode_all()
    assert (sha256(path), path.stat().st_mtime_ns) == (digest, mtime)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.mp4"]


def test_closed_source_refuses_to_decode(clips: dict[str, Path]) -> None:
    src = VideoSource(clips["gop10"], cache_size=0)
    src.close()
    src.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        src.frame(3)


# ---- shared real clips ------------------------------------------------------------------


def _decoded_count(path: Path) -> int:
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "fps"),
    [
        ("real/liveportrait_d0.mp4", 25.0),
        ("real/two_faces_hamilton.mp4", 29.97),
        ("real/liveportrait_d13.mp4", 30.0),
    ],
)
def test_shared_clip_metadata(shared_data: Path, name: str, fps: float) -> None:
    path = shared_data / "videos" / name
    digest = sha256(path)
    with VideoSource(path) as src:
        info = src.info
        last = src.frame(info.frame_count - 1)
    assert info.fps == pytest.approx(fps, abs=0.01)
    assert info.frame_count == _decoded_count(path)
    assert last.shape == (info.height, info.width, 3)
    assert info.duration_s == pytest.approx(info.frame_count / fps, rel=0.01)
    if name.endswith("d13.mp4"):
        assert info.height > info.width  # the portrait clip
    assert sha256(path) == digest


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("two_faces_hamilton.mp4", [274, 0, 137, 138, 1, 200, 199, 60]),  # 6 GOPs
        ("liveportrait_d0.mp4", [77, 40, 41, 2, 1]),  # B-frames, one GOP
    ],
)
def test_shared_clip_random_access_matches_sequential_decode(
    shared_data: Path, name: str, wanted: list[int]
) -> None:
    # A real encoder's B-frames and GOPs: random access must give the very same pixels.
    path = shared_data / "videos" / "real" / name
    with av.open(str(path)) as c:
        reference = {
            i: f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i in wanted
        }
    with VideoSource(path, cache_size=0) as src:
        for i in wanted:
            assert np.array_equal(src.frame(i), reference[i]), i


# ---- scrub cache (FrameStore) ---------------------------------------------------------


def _filled_store(path: Path, budget: int | None = None, focus: int | None = None
                  ) -> FrameStore:
    store = FrameStore(budget_bytes=budget)
    with VideoSource(path, cache_size=0) as builder:
        builder.fill_store(store, focus=None if focus is None else (lambda: focus))
    return store


@pytest.mark.parametrize("focus", [None, 0, "middle", "last"])
@pytest.mark.parametrize("name", ["gop40", "gop10", "vfr", "ts", "trimmed", "headless", "raw"])
def test_stored_frames_are_the_exact_frames(clips: dict[str, Path], name: str,
                                            focus: int | str | None) -> None:
    # A frame read from the scrub cache must be the very picture a sequential decode gives:
    # same number, same pixels; and no decode from the evidence is needed for it. Filled
    # from the playhead's GOP on (seeking to it), the pictures must be the same.
    path = clips[name]
    with VideoSource(path, cache_size=0) as probe:
        at = {"middle": len(probe) // 2, "last": len(probe) - 1}.get(focus, focus)
    store = _filled_store(path, focus=at)
    with VideoSource(path, cache_size=0) as src:
        n = len(src)
        assert store.complete and len(store) == n
        reference = _sequential_decode(path)[-n:]  # trimmed/headless: pre-roll not counted
        src.attach_store(store)
        decoded, seeks = src.frames_decoded, src.seek_count
        order = list(range(n))
        random.Random(5).shuffle(order)
        for i in order:
            got = src.frame(i)
            assert np.array_equal(got, reference[i]), i
        assert [i for i, _ in src.iter_frames([n - 1, 0])] == [0, n - 1]
        assert (src.frames_decoded, src.seek_count) == (decoded, seeks)


@pytest.mark.parametrize("rotation", [90, 270])
def test_stored_frames_keep_the_display_rotation(tmp_path: Path, rotation: int) -> None:
    path = make_video(tmp_path / "rot.mp4", n_frames=12, width=64, height=48, gop=12,
                      rotation=rotation)
    with VideoSource(path, cache_size=0) as src:
        reference = [src.frame(i) for i in range(len(src))]
        src.attach_store(_filled_store(path))
        for i in (11, 3, 0, 7):
            assert np.array_equal(src.frame(i), reference[i]), i
            assert read_frame_number(src.frame(i)) == i


def test_store_budget_limits_it_and_the_rest_decodes_from_the_evidence(
    clips: dict[str, Path],
) -> None:
    path = clips["gop40"]
    small = _filled_store(path, budget=1)  # nothing fits
    assert small.full and not small.complete and len(small) == 0
    partial = _filled_store(path, budget=_filled_store(path).nbytes // 3)
    assert partial.full and 0 < len(partial) < 120
    reference = _sequential_decode(path)
    with VideoSource(path, cache_size=0) as src:
        src.attach_store(partial)
        for i in (119, 0, 60, 1, 118):
            assert np.array_equal(src.frame(i), reference[i]), i


def test_the_store_fills_from_the_playheads_gop_first(clips: dict[str, Path]) -> None:
    # gop10: keyframes every 10 frames. A budget of about 15 frames, playhead at 35: the GOP
    # [30, 40) is filled first, then [40, 50) — not the clip's start.
    path = clips["gop10"]
    per_frame = _filled_store(path).nbytes // 60
    store = _filled_store(path, budget=per_frame * 15, focus=35)
    held = [i for i in range(60) if i in store]
    assert set(range(30, 40)) <= set(held) and min(held) >= 30, held
    # The playhead moving: the fill follows it to a GOP not stored yet, then wraps round.

    class Recording(FrameStore):
        def __init__(self) -> None:
            super().__init__()
            self.order: list[int] = []

        def add(self, index, frame) -> bool:
            self.order.append(index)
            return super().add(index, frame)

    moves = iter([5] + [55] * 1000)
    store = Recording()
    with VideoSource(path, cache_size=0) as builder:
        assert builder.fill_store(store, focus=lambda: next(moves))
    assert store.complete and len(store) == 60
    gops = [i // 10 for i in store.order]
    assert gops[:10] == [0] * 10 and gops[10:20] == [5] * 10, gops
    assert sorted(store.order) == list(range(60))  # each frame stored once


def test_store_refuses_pixel_formats_it_cannot_hold_losslessly(tmp_path: Path) -> None:
    # MJPEG decodes to full-range yuvj420p: not stored, so every frame comes from the file.
    path = make_video(tmp_path / "mjpeg.avi", n_frames=6, width=64, height=48, codec="mjpeg")
    store = _filled_store(path)
    assert len(store) == 0 and store.full and not store.complete


def test_fill_store_stops_when_cancelled(clips: dict[str, Path]) -> None:
    cancel = threading.Event()
    cancel.set()
    store = FrameStore()
    with VideoSource(clips["gop40"], cache_size=0) as builder:
        assert builder.fill_store(store, cancel) is False
    assert len(store) == 0


def test_closing_from_another_thread_waits_for_the_decode_in_flight(clips: dict[str, Path]) -> None:
    source = VideoSource(next(iter(clips.values())))
    failures: list[BaseException] = []
    started = threading.Event()

    def decode() -> None:
        try:
            for _ in source.iter_frames(range(len(source))):
                started.set()
        except ValueError as err:  # "VideoSource is closed": the one allowed outcome
            failures.append(err)
        finally:
            started.set()

    worker = threading.Thread(target=decode)
    worker.start()
    started.wait(10)
    source.close()  # must not free the decoder under the running decode
    worker.join(10)
    assert not worker.is_alive()
    assert all("closed" in str(err) for err in failures)


@pytest.mark.shared
@pytest.mark.parametrize("damage", ["timescale0", "stts0"])
def test_damaged_container_timing_is_set_aside_and_said(shared_data: Path, tmp_path: Path,
                                                        damage: str) -> None:
    """Issue 33 (3): a copy of a shared clip whose mdhd time scale is 0 read as one frame at
    0.00195 fps lasting 512 s, one whose stts deltas are 0 as 40 of its 78 frames. Every
    sample is counted and decodes as the original's frame, the times are one nominal
    period apart, and the warning names what was set aside."""
    original = shared_data / "videos/real/liveportrait_d0.mp4"
    damaged = make_damaged_timing(original, tmp_path / f"{damage}.mp4", damage)
    digest = sha256(damaged)
    with VideoSource(original) as whole, VideoSource(damaged) as src:
        info = src.info
        assert (info.frame_count, info.fps) == (whole.info.frame_count, 25.0)
        assert info.duration_s == pytest.approx(whole.info.duration_s)
        for i in (0, 1, 40, info.frame_count - 1, 2):
            assert np.array_equal(src.frame(i), whole.frame(i)), i
        assert src.timestamp(10) == pytest.approx(0.4)
        assert whole.info.integrity_warnings() == []
    (warning,) = info.integrity_warnings()
    assert warning.startswith("the container's timing is implausible")
    assert "not the file's own" in warning and "25 frames a second" in warning
    assert sha256(damaged) == digest
