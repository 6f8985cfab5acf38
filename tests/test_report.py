"""The PDF evidence report: validity, what it must print, attachments, tampering, scripts,
pagination, cases and the command line."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from forensics_app.cli import main as cli_main
from forensics_app.core.analysis.drive import run_to_end
from forensics_app.core.analysis.results import (
    EXPLAIN_METHODS,
    RESULTS_FILE,
    Evidence,
    FaceBox,
    FaceMaps,
    Identity,
    Indicator,
    ModelInfo,
    Prediction,
    Results,
    RunSettings,
    ToolInfo,
    read_results,
    write_results,
)
from forensics_app.core.case import NOTES_FILE, Case
from forensics_app.core.errors import ForensicsError, OutputError
from forensics_app.core.media import VideoSource, hash_file
from forensics_app.core.report import export_report, fonts
from forensics_app.core.report.context import MAX_ROWS_PER_INDICATOR
from forensics_app.core.report.text import SHAPING_AVAILABLE

CLIP = "videos/fake/dfdc_abofeumbvv.mp4"
ARABIC = "ملاحظة: الوجه يبدو مشوها في الإطار"
CHINESE = "王小明 检查了第十二帧"
ACCENTED = "Zoë Ñúñez-Ørsted"


def pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


drive = run_to_end


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def analysed(shared_data: Path, tiny_model_dir: Path, tmp_path_factory) -> Path:
    """An 8-frame analysis of a copy of a shared clip (the copy can then be tampered with)."""
    from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
    from forensics_app.core.models.registry import load_model

    root = tmp_path_factory.mktemp("analysed")
    (root / "evidence").mkdir()
    clip = shutil.copy(shared_data / CLIP, root / "evidence" / "clip.mp4")
    drive(run_analysis(clip, root / "results", AnalysisSettings(frames=8),
                       load_model(tiny_model_dir)))
    return root / "results"


@pytest.fixture(scope="module")
def report(analysed: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.pdf"
    return export_report(analysed, out, case_id="K-2026/17", examiner=ACCENTED,
                         notes=[ARABIC, CHINESE, f"reviewed by {ACCENTED}"])


def synthetic(folder: Path, frames: int = 100, unusual: int = 15, placeholder: bool = False,
              metrics: dict | None = None, limitations: list[str] | None = None) -> Path:
    """A results folder over a synthetic clip, built directly: many unusual frames, one face."""
    from media_factory import make_video

    from forensics_app.core.explain.attention import (
        attention_range,
        average_attention,
        self_attention_strength,
    )

    folder.mkdir(parents=True)
    (folder / "evidence").mkdir()
    video = make_video(folder / "evidence" / "synthetic.mp4", n_frames=frames, width=96,
                       height=64, fps=25, bframes=False)
    with VideoSource(video) as source:
        info = source.info
    hashes = hash_file(video)
    rng = np.random.default_rng(0)
    sampled = list(range(frames))
    box = [20.0, 8.0, 70.0, 58.0]
    scores = rng.uniform(0.55, 0.95, frames).tolist()
    marked = sorted(rng.choice(sampled, unusual, replace=False).tolist())
    # Attention on itself (range 0) for most frames, far away for the marked ones: their
    # ranges lie beyond 2σ. The per-frame views are derived from it, as the reader checks.
    attention = np.zeros((2, 4, frames, frames), np.float32)
    for f in sampled:
        far = f + frames // 2 if f < frames // 2 else f - frames // 2
        attention[:, :, f, far if f in marked else f] = 1.0
    mean = average_attention(attention.astype(np.float64))
    strength, ranges = self_attention_strength(mean).tolist(), attention_range(mean).tolist()
    results = Results(
        evidence=Evidence(str(video.resolve()), video.name, hashes.sha256, hashes.md5,
                          hashes.size_bytes, info.container, info.codec, info.width,
                          info.height, info.fps, info.frame_count, info.duration_s),
        tool=ToolInfo("forensics-app", "test", "abc123"),
        model=ModelInfo("synthetic", "1", "ab" * 32, threshold=0.5, placeholder=placeholder,
                        training_data="nothing at all", metrics=metrics or {},
                        limitations=limitations or []),
        settings=RunSettings(frames=frames, segment=None, explain="relevancy", device="cpu",
                             detector="short", seed=0, batch_size=32),
        sampled_frames=sampled, sampled_times_s=[f / 25 for f in sampled],
        faces=[[FaceBox(0, box, 0.9, s)] for s in scores], frame_scores=scores,
        identities=[Identity(0, sampled, float(np.mean(scores)), 0.8, 0.8)],
        prediction=Prediction("fake", 0.8, 0.8, "confident", 0.5, 0, "synthetic"),
        attention_frames=sampled, frame_relevancy=rng.random(frames).tolist(),
        self_attention=strength, attention_range=ranges, unusual_frames=marked,
        indicators=[Indicator("unusual_frame_share", unusual / frames, 0.05, True, marked,
                              "share of unusual frames"),
                    Indicator("frames_above_threshold", 1.0, 0.5, True, sampled,
                              "share of frames above the threshold")],
        created_utc="2026-01-01T00:00:00+00:00")
    maps = FaceMaps(np.array(sampled, np.int64), np.zeros(frames, np.int64),
                    np.tile(np.array(box, np.float32), (frames, 1)),
                    {m: rng.random((frames, 7, 7)).astype(np.float32) for m in EXPLAIN_METHODS})
    return write_results(folder / "results", results, attention, maps)


# -- the report of a real analysis ------------------------------------------------------------
def test_pdf_is_valid_with_footer_on_every_page(report) -> None:
    pages = pdf_text(report.pdf)
    assert len(pages) == report.pages >= 5
    short = re.compile(r"Evidence SHA-256 ([0-9a-f]{8})…([0-9a-f]{8}) · generated "
                       r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
    for number, text in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in text
        assert short.search(text), f"page {number} lacks the evidence hash and report time"
        assert report.report_id in text
    assert PdfReader(report.pdf).pages[0].mediabox.width == pytest.approx(595.3, abs=0.5)


def test_pdf_prints_hashes_verdict_and_frames(report, analysed: Path, tiny_model_dir: Path
                                             ) -> None:
    results = read_results(analysed).results
    text = " ".join(pdf_text(report.pdf))
    flat = text.replace("\n", "")
    evidence_sha = hashlib.sha256(Path(results.evidence.path).read_bytes()).hexdigest()
    model_sha = hashlib.sha256((tiny_model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert evidence_sha in flat
    assert model_sha in flat
    assert results.prediction.label.upper() in text
    assert "match" in text and "MISMATCH" not in text
    assert "K-2026/17" in text
    for frame in results.unusual_frames:
        assert re.search(rf"\b{frame}\b", text)
    if not results.unusual_frames:
        assert "No unusual frames" in text
    for heading in ("1. Evidence", "2. Method", "3. Findings", "4. Examiner notes",
                    "5. Audit log", "6. Limitations"):
        assert heading in text


def test_results_attached_and_beside_the_pdf(report, analysed: Path) -> None:
    original = (analysed / RESULTS_FILE).read_bytes()
    reader = PdfReader(report.pdf)
    assert reader.attachments["results.json"] == [original]
    assert report.results_sidecar.read_bytes() == original
    digest = hashlib.sha256(report.pdf.read_bytes()).hexdigest()
    assert report.sha256_file.read_text("utf-8") == f"{digest}  {report.pdf.name}\n"
    assert report.pdf_sha256 == digest


def test_figures_exported_as_png_beside_the_results(report, analysed: Path, tmp_path) -> None:
    from PIL import Image

    layers = read_results(analysed).attention.shape[0]
    names = ["summary.png", *(f"layer_{n}_all_heads.png" for n in range(1, layers + 1))]
    assert [p.name for p in report.figures] == names
    for path in report.figures:
        assert path.parent == report.pdf.parent and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.width > 500 and image.height > 200
    # a report written into the results folder itself leaves the folder readable (sealed)
    folder = shutil.copytree(analysed, tmp_path / "results")
    out = export_report(folder, folder / "report.pdf")
    assert all((folder / name).exists() for name in names) and out.figures
    assert read_results(folder).results == read_results(analysed).results


def test_non_latin_notes_render(report) -> None:
    text = " ".join(pdf_text(report.pdf))
    assert CHINESE in text
    assert ACCENTED in text
    assert not fonts.load_fonts().missing(ARABIC + CHINESE + ACCENTED)
    arabic = unicodedata.normalize("NFKC", text)
    assert "الوجه" in arabic or "الوجه"[::-1] in arabic
    if SHAPING_AVAILABLE:  # joined letters are drawn as presentation forms
        assert re.search("[\ufe70-\ufefc]", text)
    used = {str(font["/BaseFont"]) for page in PdfReader(report.pdf).pages
            for font in page["/Resources"].get("/Font", {}).values()}
    assert any("Arabic" in name for name in used)
    assert any(re.search("DroidSansFallback|WenQuanYi", name) for name in used)


def test_tampered_and_missing_evidence(report, analysed: Path, tmp_path: Path) -> None:
    bundle = read_results(analysed)
    tampered = tmp_path / "evidence" / "clip.mp4"
    tampered.parent.mkdir()
    shutil.copy(bundle.results.evidence.path, tampered)
    with tampered.open("ab") as handle:
        handle.write(b"\0\0\0\0")
    text = {}
    for name, path in (("tampered", tampered), ("missing", tmp_path / "gone" / "gone.mp4")):
        results = replace(bundle.results,
                          evidence=replace(bundle.results.evidence, path=str(path)))
        folder = write_results(tmp_path / name, results, bundle.attention, bundle.face_maps)
        out = export_report(folder, tmp_path / "out" / f"{name}.pdf", paper="letter")
        assert out.evidence_status == ("changed" if name == "tampered" else "missing")
        text[name] = " ".join(pdf_text(out.pdf))
    assert "MISMATCH" in text["tampered"]
    assert hashlib.sha256(tampered.read_bytes()).hexdigest() in text["tampered"].replace("\n", "")
    assert "EVIDENCE MISSING" in text["missing"]
    assert PdfReader(tmp_path / "out" / "missing.pdf").pages[0].mediabox.width == 612


# -- synthetic results ------------------------------------------------------------------------
def test_many_unusual_frames_paginate(tmp_path: Path) -> None:
    folder = synthetic(tmp_path / "many", frames=100, unusual=15)
    out = export_report(folder, tmp_path / "many.pdf")
    assert out.seconds < 60  # seconds, not minutes, for a 100-frame analysis
    pages = pdf_text(out.pdf)
    table_pages = [t for t in pages if "Frame picture" in t]
    assert len(table_pages) >= 2  # the table spans pages, its header repeated on each
    text = " ".join(table_pages)
    results = read_results(folder).results
    for frame in results.unusual_frames:
        assert re.search(rf"(?m)^{frame}\s*$", text), f"frame {frame} has no row"
    # A triggered indicator pointing at every frame adds only its most relevant frames.
    rows = re.findall(r"(?m)^(\d+)\s*$\n\d\d:\d\d:\d\d\.\d{3}", text)
    assert len(rows) <= len(results.unusual_frames) + MAX_ROWS_PER_INDICATOR


def test_placeholder_model_is_flagged_on_every_page(tmp_path: Path) -> None:
    folder = synthetic(tmp_path / "placeholder", frames=12, unusual=0, placeholder=True)
    out = export_report(folder, tmp_path / "placeholder.pdf")
    pages = pdf_text(out.pdf)
    assert all("UNTRAINED PLACEHOLDER MODEL" in t for t in pages)
    assert "meaningless" in pages[0]


def test_case_report_uses_case_and_audits_export(tmp_path: Path) -> None:
    folder = synthetic(tmp_path / "s", frames=10, unusual=0)
    results = read_results(folder).results
    case = Case.create(tmp_path / "case", "CASE-9", "R. Ahmed")
    record = case.add_evidence(results.evidence.path)
    case.add_note(f"{ARABIC} / {CHINESE}", frame=3, evidence_id=record.evidence_id)
    with (case.folder / NOTES_FILE).open("a", encoding="utf-8") as f:  # an older case's
        f.write(json.dumps({"utc": "2026-01-01T00:00:00+00:00", "text": "unnamed exhibit",
                            "author": None, "frame": 4, "evidence_id": None}) + "\n")
    shutil.copytree(folder, case.analysis_dir(record.evidence_id))
    # The GUI passes the case's notes along with unsaved ones: each is printed once.
    out = export_report(case.analysis_dir(record.evidence_id), tmp_path / "r" / "case.pdf",
                        notes=[*case.notes(record.evidence_id), "unsaved note"])
    text = " ".join(pdf_text(out.pdf))
    assert "CASE-9" in text and "R. Ahmed" in text and "unsaved note" in text
    assert text.count(CHINESE) == 1
    assert "unnamed exhibit" not in text  # about a frame of no named exhibit: not this one's
    assert "hash chain is intact" in text
    assert f"case intake {record.evidence_id}" in text
    events = Case.open(case.folder).audit_log()
    exported = [e for e in events if e["event"] == "report exported"]
    assert exported and exported[-1]["pdf_sha256"] == out.pdf_sha256
    assert any(e["event"] == "analysed" and e["evidence_id"] == "E001" for e in events)


def test_refuses_to_write_beside_the_evidence(tmp_path: Path) -> None:
    folder = synthetic(tmp_path / "s", frames=4, unusual=0)
    evidence_dir = Path(read_results(folder).results.evidence.path).parent
    with pytest.raises(OutputError, match="beside the evidence"):
        export_report(folder, evidence_dir / "report.pdf")
    with pytest.raises(ForensicsError, match="paper"):
        export_report(folder, tmp_path / "r.pdf", paper="a3")


# -- fonts --------------------------------------------------------------------------------------
def test_fonts_from_project_folder_first(tmp_path: Path, monkeypatch) -> None:
    shipped = tmp_path / "fonts"
    shipped.mkdir()
    system = fonts.find_font(fonts.ROLES["regular"])
    assert system is not None
    copy = shutil.copy(system, shipped / fonts.ROLES["regular"][0])
    monkeypatch.setenv("FORENSICS_FONTS_DIR", str(shipped))
    assert fonts.find_font(fonts.ROLES["regular"]) == Path(copy)


def test_no_font_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("FORENSICS_FONTS_DIR", raising=False)
    monkeypatch.setattr(fonts, "FONT_DIRS", ())
    fonts.load_fonts.cache_clear()
    try:
        with pytest.raises(ForensicsError, match=r"no font for the report.*fonts-noto-core"):
            fonts.load_fonts()
    finally:
        monkeypatch.undo()
        fonts.load_fonts.cache_clear()


# -- command line -----------------------------------------------------------------------------
def test_cli_report_and_errors(tmp_path: Path, capsys) -> None:
    folder = synthetic(tmp_path / "s", frames=6, unusual=0)
    notes = tmp_path / "notes.txt"
    notes.write_text(f"first note\n\n{CHINESE}\n", encoding="utf-8")
    out = tmp_path / "out" / "cli.pdf"
    code = cli_main(["report", str(folder), "--out", str(out), "--case-id", "CLI-1",
                     "--examiner", ACCENTED, "--notes", str(notes), "--paper", "letter"])
    assert code == 0
    assert "report:" in capsys.readouterr().out
    text = " ".join(pdf_text(out))
    assert "CLI-1" in text and CHINESE in text and "first note" in text
    assert cli_main(["report", str(tmp_path), "--out", str(tmp_path / "x.pdf")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "not a case folder" in error and str(tmp_path) in error
    assert json.loads(out.with_suffix(".results.json").read_text("utf-8"))["schema"]


def test_whole_evaluations_on_the_model_card_stay_one_line_per_set(tmp_path: Path) -> None:
    """A card with full evaluations (nested sets, confusion matrices, per-clip scores, notes)
    once made the method table's cell taller than a page and the export crashed."""
    evaluation = {"count": 631, "auc": 0.5647, "accuracy": 0.561, "eer": 0.4428,
                  "confusion_matrix": [[243, 177], [100, 111]],
                  "note": "held out " * 200,
                  "per_clip": {f"clip_{i}": 0.5 for i in range(200)}}
    metrics = {f"set_{i}": {**evaluation, "by_kind": {"face": evaluation}} for i in range(30)}
    folder = synthetic(tmp_path / "card", frames=12, unusual=0, metrics=metrics)
    out = export_report(folder, tmp_path / "card.pdf")
    text = " ".join(pdf_text(out.pdf))
    assert "set_0: count 631, auc 0.565, accuracy 0.561, eer 0.443" in text
    assert "more in the model card" in text


def test_the_cards_held_out_figures_and_unmet_targets_are_in_the_method(tmp_path: Path
                                                                       ) -> None:
    """The examiner reads, beside the model, how it did on data it never saw and which of the
    project's targets it misses: the rows of its MODEL_CARD.md, from the same function."""
    from forensics_app.core.models.figures import TARGETS, held_out_figures
    from forensics_app.core.models.registry import DEFAULT_MODEL, REPO_MODELS_DIR, read_card

    metrics = read_card(REPO_MODELS_DIR / DEFAULT_MODEL).metrics
    metrics["heldout"]["heldout_dfdc"]["auc"] = 0.9  # below its target, so listed as unmet
    folder = synthetic(tmp_path / "card", frames=12, unusual=0, metrics=metrics)
    out = export_report(folder, tmp_path / "card.pdf")
    text = re.sub(r"\s+", " ", " ".join(pdf_text(out.pdf)))
    assert "How this model does on held-out data" in text
    rows = held_out_figures(metrics)
    assert len(rows) >= 10
    for row in rows:
        assert row.figure.split(" ")[0] in text, row
    unmet_dfdc = f"DFDC AUC ≥ {TARGETS['dfdc']}"
    assert "0.900" in text and "not reached: " in text and unmet_dfdc in text
    first_page = re.sub(r"\s+", " ", pdf_text(out.pdf)[0])
    assert "does not reach every detection target" in first_page  # in the finding, page 1
    assert unmet_dfdc in first_page  # the sign drawn, not dropped by the font
    assert "validation_frames_dfdc: count 800" in text  # the validation sets, said to be such
    assert "not independent" in text
    assert_no_heading_ends_a_page(out.pdf)


def test_a_card_without_held_out_figures_has_no_such_table(report) -> None:
    text = " ".join(pdf_text(report.pdf))
    assert "How this model does on held-out data" not in text


# -- layout (issue: headings stranded at a page foot, legends over the data) ------------------
HEADINGS = {"1. Evidence", "2. Method", "3. Findings", "4. Examiner notes", "5. Audit log",
            "6. Limitations", "Tool", "Model", "Identities", "Indicators",
            "Unusual frames and indicator findings", "Attention per layer and head",
            "How this model does on held-out data (its model card)"}


def assert_no_heading_ends_a_page(pdf: Path) -> None:
    for number, page in enumerate(PdfReader(pdf).pages, start=1):
        lines = [ln.strip() for ln in page.extract_text().splitlines() if ln.strip()]
        body = [ln for ln in lines if not ln.startswith(("forensics-app evidence report",
                                                          "Case ", "Evidence SHA-256 ",
                                                          "page "))]
        assert body and body[-1] not in HEADINGS, f"page {number} ends with {body[-1]!r}"


def test_headings_stay_with_their_content(report, tmp_path: Path) -> None:
    assert_no_heading_ends_a_page(report.pdf)
    for frames, unusual in ((100, 15), (40, 0), (12, 3)):
        folder = synthetic(tmp_path / f"s{frames}-{unusual}", frames=frames, unusual=unusual)
        assert_no_heading_ends_a_page(export_report(folder, tmp_path / f"{frames}.pdf").pdf)


def test_the_signature_never_stands_alone_on_a_page(tmp_path: Path) -> None:
    """A card with one more limitation once pushed the signature block onto a page of its
    own. Where a growing list of limitations first adds a page, the last thing to move there
    used to be the signature alone; it must take the list's end with it."""
    line = "A limitation of the model in words, long enough to fill one line of the page."

    @functools.cache
    def pages(count: int) -> list[str]:
        folder = synthetic(tmp_path / f"l{count}", frames=12, unusual=0,
                           limitations=[line] * count)
        pdf = export_report(folder, tmp_path / f"l{count}.pdf").pdf
        return [re.sub(r"\s+", " ", text) for text in pdf_text(pdf)]

    low, high = 0, 64  # a page holds fewer lines than 64: the report is longer at 64
    base = len(pages(low))
    assert len(pages(high)) > base
    while high - low > 1:  # the fewest limitations that add a page
        middle = (low + high) // 2
        low, high = (middle, high) if len(pages(middle)) == base else (low, middle)
    for count in (high, high + 1):
        (page,) = [text for text in pages(count) if "Examiner signature" in text]
        assert "decoded again from the evidence file" in page, f"{count} limitations"


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_figure_legends_never_cover_the_plots_and_titles_fit(tmp_path: Path) -> None:
    from forensics_app.core.report import figures

    bundle = read_results(synthetic(tmp_path / "fig", frames=60, unusual=5))
    drawn = [figures.draw_summary(bundle.results, bundle.attention),
             figures.draw_timeline(bundle.results),
             figures.draw_heads(bundle.attention[0], 0)]
    legends = 0
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in drawn:
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)  # lay the texts out as the PNG has them
        page = fig.bbox
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            legends += 1
            box = legend.get_window_extent(renderer)
            plots = [a.get_window_extent(renderer) for a in fig.axes if a.get_visible()]
            assert not any(_overlaps(box, plot) for plot in plots), ax.get_title()
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0
        for text in [fig._suptitle, *(ax.title for ax in fig.axes)]:
            if text is not None and text.get_text():
                box = text.get_window_extent(renderer)
                assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, \
                    text.get_text()
    assert legends == 3  # attention range, prediction, timeline


@pytest.mark.parametrize(("demuxer", "name", "shown"), [
    ("mov,mp4,m4a,3gp,3g2,mj2", "clip.mp4", "MP4 (FFmpeg demuxer mov,mp4,m4a,3gp,3g2,mj2)"),
    ("mov,mp4,m4a,3gp,3g2,mj2", "clip.MOV", "MOV (FFmpeg demuxer mov,mp4,m4a,3gp,3g2,mj2)"),
    ("matroska,webm", "clip.bin", "MATROSKA (FFmpeg demuxer matroska,webm)"),
    ("avi", "clip.avi", "AVI"),
])
def test_container_named_as_people_name_it(demuxer: str, name: str, shown: str) -> None:
    from forensics_app.core.report.sections import container_name

    assert container_name(demuxer, name) == shown


def test_verdict_sentence_names_the_band_once(tmp_path: Path) -> None:
    out = export_report(synthetic(tmp_path / "band", frames=12, unusual=0), tmp_path / "b.pdf")
    text = " ".join(pdf_text(out.pdf)).replace("\n", " ")
    assert "confidence band confident" in text and "confident confidence" not in text


def test_the_summary_weighs_red_markers_by_the_cards_held_out_rates(tmp_path: Path) -> None:
    splices = {"real_windows_with_a_marker_share": 0.388889, "marker_near_boundary_share": 0.583}
    folder = synthetic(tmp_path / "rates", frames=12, unusual=2,
                       metrics={"heldout": {"splices": splices}})
    text = " ".join(" ".join(pdf_text(export_report(folder, tmp_path / "r.pdf").pdf)).split())
    assert "put a red marker on 39% of real windows" in text
    assert "boundary on 58% of spliced ones" in text
    bare = synthetic(tmp_path / "bare", frames=12, unusual=2)  # a card without the figures
    assert "red marker on" not in " ".join(pdf_text(export_report(bare, tmp_path / "b.pdf").pdf))
