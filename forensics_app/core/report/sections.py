"""The report's content, section by section: summary, evidence, method (page 1-3).

Every function takes the `ReportContext` and the layout `Kit` and returns flowables. Anything
that came from a user or a file (names, paths, notes) goes through `kit.text`/`kit.inline`
(escaped, any script); everything else is markup written here.
"""

from __future__ import annotations

import html
from dataclasses import asdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, PageBreak, Spacer, Table, TableStyle

from forensics_app.core.analysis.results import Results
from forensics_app.core.analysis.verdict import BAND_MEANINGS, MIN_DECIDING_FRAMES
from forensics_app.core.models.figures import held_out_figures, unmet_targets
from forensics_app.core.report.context import EvidenceStatus, ReportContext
from forensics_app.core.report.document import GREEN, GREY, RED, Kit
from forensics_app.core.report.text import visual

TITLE = "Deepfake forensic analysis — evidence report"
PLACEHOLDER_WARNING = ("UNTRAINED PLACEHOLDER MODEL: the scores and the verdict in this report "
                       "are meaningless and must not be used as evidence.")
VERDICT_COLOURS = {"fake": RED, "real": GREEN}


# -- formatting helpers (also used by findings.py) --------------------------------------------
def inline(kit: Kit, plain: str) -> str:
    """Untrusted text inside trusted markup: shaped, reordered, escaped, font fallback."""
    return kit.fonts.markup(visual(plain))


def utc_text(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def local_text(moment: datetime) -> str:
    local = moment.astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} (UTC{local:%z})"


def timecode(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:02d}:{minutes:02d}:{secs:06.3f}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({size:,} bytes)"
        value /= 1024
    return f"{size:,} bytes"


def frame_list(frames: list[int], limit: int = 40) -> str:
    """Frame indices compactly: an arithmetic run as one range, else the list (truncated)."""
    if not frames:
        return "none"
    steps = {b - a for a, b in pairwise(frames)}
    if len(frames) > 2 and len(steps) == 1:
        return f"{frames[0]}–{frames[-1]} every {steps.pop()} ({len(frames)} frames)"
    shown = ", ".join(map(str, frames[:limit]))
    return shown + (f", … ({len(frames)} in all)" if len(frames) > limit else "")


def short_hash(sha256: str) -> str:
    return f"{sha256[:8]}…{sha256[-8:]}" if len(sha256) > 16 else sha256


def hash_status(status: str) -> str:
    return {"ok": f'<font color="{GREEN.hexval()}"><b>match</b></font>',
            "changed": f'<font color="{RED.hexval()}"><b>MISMATCH</b></font>',
            "missing": f'<font color="{RED.hexval()}"><b>MISSING</b></font> (file not found '
                       "or unreadable at report time)"}[status]


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# -- 0 summary ------------------------------------------------------------------------------
def summary(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    r = ctx.results
    story: list[Flowable] = [kit.p(TITLE, kit.h1)]
    if ctx.placeholder:
        story += [kit.banner(PLACEHOLDER_WARNING), Spacer(1, 6)]
    if not ctx.evidence.ok:
        story += [kit.banner(evidence_warning(ctx.evidence)), Spacer(1, 6)]
    for warning in r.warnings:  # media integrity, faces too small: read the verdict with them
        story += [kit.banner(f"WARNING: {html.escape(warning)}"), Spacer(1, 6)]
    story.append(kit.fields([
        ("Case id", kit.text(ctx.case_id or "not given")),
        ("Examiner", kit.text(ctx.examiner or "not given")),
        ("Report id", ctx.report_id),
        ("Report generated", f"{utc_text(ctx.generated)}<br/>{local_text(ctx.generated)}"),
        ("Analysis run", utc_text(r.created_utc)),
        ("Evidence file", kit.text(r.evidence.file_name)),
        ("Evidence SHA-256", kit.code(r.evidence.sha256)),
        ("Hash check at report time", hash_status(ctx.evidence.status)),
        ("Model", model_line(kit, r)),
    ]))
    story += [Spacer(1, 10), verdict_block(ctx, kit), Spacer(1, 10),
              kit.p("Finding", kit.h3), kit.p(finding(ctx, kit)),
              kit.p("An attention or relevancy map shows where the model looked, not proof of "
                    "manipulation. This result is one piece of evidence among others; see "
                    "Limitations (section 6).", kit.caption),
              PageBreak()]
    return story


def evidence_warning(ev: EvidenceStatus) -> str:
    if ev.status == "missing":
        return ("EVIDENCE MISSING: the analysed file could not be read when this report was "
                "made; its integrity could not be re-checked.")
    return ("EVIDENCE HASH MISMATCH: the file is not the one recorded at intake or analysed; "
            "the findings below may not describe it.")


def model_line(kit: Kit, r: Results) -> str:
    m = r.model
    tag = f' <font color="{RED.hexval()}"><b>[UNTRAINED PLACEHOLDER]</b></font>' \
        if m.placeholder else ""
    return f"{inline(kit, m.name)} {inline(kit, m.version)}{tag}"


def verdict_block(ctx: ReportContext, kit: Kit) -> Table:
    pred = ctx.results.prediction
    colour = GREY if ctx.placeholder else VERDICT_COLOURS.get(pred.label, GREY)
    word = pred.label.upper()
    label_width = kit.width * 0.28 - 16
    # As large as fits on one line ("INCONCLUSIVE" is twice as long as "FAKE").
    size = min(24.0, 0.9 * label_width / stringWidth(word, kit.fonts.bold, 1))
    label = kit.p(f'<font size="{size:.1f}" color="{colour.hexval()}"><b>{word}</b></font>',
                  ParagraphStyle("verdict", parent=kit.body, leading=size * 1.2))
    confidence = ("no verdict" if pred.band == "none"
                  else f"{pct(pred.confidence)} — <b>{pred.band}</b>")
    details = kit.fields([
        ("p_fake", f"{num(pred.p_fake)} (decision threshold {pred.threshold:.2f})"),
        ("Confidence", confidence),
        ("What the band means", BAND_MEANINGS.get(pred.band, pred.band)),
        ("Why", inline(kit, pred.reason)),
    ], label_share=0.3, width=kit.width * 0.72 - 12)
    table = Table([[label, details]], colWidths=[kit.width * 0.28, kit.width * 0.72])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                               ("BOX", (0, 0), (-1, -1), 0.8, colour),
                               ("LEFTPADDING", (0, 0), (0, 0), 10)]))
    return table


def finding(ctx: ReportContext, kit: Kit) -> str:
    """One plain-language paragraph (markup) for a reader who reads nothing else."""
    r = ctx.results
    pred = r.prediction
    with_face = sum(1 for faces in r.faces if faces)
    over = ("the whole clip" if not r.settings.segment
            else "frames {}–{}".format(*r.settings.segment))
    text = (f"The file {inline(kit, r.evidence.file_name)} was examined with the model "
            f"{model_line(kit, r)}. {len(r.sampled_frames)} frames were sampled evenly over "
            f"{over}; a face was found in {with_face} of them "
            f"({persons_seen(r)}). ")
    if ctx.placeholder:
        text += ("<b>The model is an untrained placeholder: its numbers carry no meaning and "
                 "no conclusion can be drawn from this report.</b> ")
    elif pred.label == "inconclusive":
        text += f"No verdict was reached: {inline(kit, pred.reason)}. "
    else:
        text += (f"For the face that decides the verdict (identity {pred.decided_by_track}), "
                 f"the model's calibrated probability that it was manipulated is "
                 f"{pred.p_fake:.2f} against a decision threshold of {pred.threshold:.2f}, so "
                 f"the tool labels the video <b>{pred.label.upper()}</b>; confidence band "
                 f"<b>{pred.band}</b> ({pred.confidence:.0%}): {BAND_MEANINGS[pred.band]}. ")
    triggered = [i.name for i in r.indicators if i.flagged]
    findings = [i for i in r.indicators if not i.reference_only]
    text += (f"The temporal attention marks {_count(len(r.unusual_frames), 'frame')} as unusual"
             f"{' (' + frame_list(r.unusual_frames, 12) + ')' if r.unusual_frames else ''}; "
             f"{len(triggered)} of the {_count(len(findings), 'indicator')} measured to "
             "separate real from fake validation clips "
             f"{'is' if len(triggered) == 1 else 'are'} triggered"
             f"{' (' + ', '.join(triggered) + ')' if triggered else ''}, "
             f"{len(r.indicators) - len(findings)} more are shown for reference only. "
             "These point an examiner at what to review; they do not prove manipulation.")
    record = r.model.marker_record()
    if record:
        text += " " + record
    unmet = unmet_targets(r.model.metrics) if held_out_figures(r.model.metrics) else []
    if unmet:  # the card asks that any report say so; a reader of page 1 alone sees it here
        # through `inline` for its font fallback: the body font has no "≥" / "≤"
        text += (" On held-out data the model does not reach every detection target this "
                 f"project set (not reached: {inline(kit, '; '.join(unmet))}; section 2).")
    if not ctx.evidence.ok:
        text += f" <b>{evidence_warning(ctx.evidence)}</b>"
    return text


def persons_seen(r: Results) -> str:
    """How many people the analysis saw: an identity is one person (fragments joined across
    cuts and gaps); one seen in fewer than 3 sampled frames is counted apart as a glimpse
    (often a false detection)."""
    needed = min(MIN_DECIDING_FRAMES, len(r.sampled_frames))
    persons = sum(len(i.frames) >= needed for i in r.identities)
    glimpses = len(r.identities) - persons
    text = _count(persons, "distinct person")
    if glimpses:
        text += (f" seen in at least {needed} sampled frames, and "
                 f"{_count(glimpses, 'face')} glimpsed in fewer")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- 1 evidence -----------------------------------------------------------------------------
def evidence(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    ev, check = ctx.results.evidence, ctx.evidence
    now = check.current
    rows: list[tuple[str, Any]] = [
        ("File name", kit.text(ev.file_name)),
        ("Path at analysis", kit.code(ev.path)),
    ]
    if ev.opened_as and ev.opened_as != ev.path:  # opened through a symlink
        rows.append(("Opened as", kit.code(ev.opened_as)))
    if ctx.evidence_id:
        rows.append(("Case evidence id", ctx.evidence_id))
    if ctx.analysis:
        rows.append(("Case analysis", kit.text(ctx.analysis)))
    rows += [
        ("Size", human_size(check.intake.size_bytes)
         + ("" if now is None or now.size_bytes == check.intake.size_bytes
            else f"; now {human_size(now.size_bytes)}")),
        ("SHA-256 at intake", kit.code(check.intake.sha256)),
        ("SHA-256 at report time", _now_hash(kit, now.sha256 if now else None,
                                             check.intake.sha256)),
        ("MD5 at intake", kit.code(check.intake.md5)),
        ("MD5 at report time", _now_hash(kit, now.md5 if now else None, check.intake.md5)),
        ("Intake hashes from", kit.text(check.intake_source)),
    ]
    if check.analysed_sha256 != check.intake.sha256:
        rows.append(("SHA-256 seen by the analysis",
                     [kit.code(check.analysed_sha256), kit.p(hash_status("changed"), kit.cell)]))
    rows += [
        ("Container", kit.text(container_name(ev.container, ev.file_name))),
        ("Codec", kit.text(ev.codec)),
        ("Resolution", f"{ev.width} × {ev.height} pixels (as displayed)"),
        ("Frame rate", f"{ev.fps:.3f} frames/s"),
        ("Frame count", f"{ev.frame_count:,}" + (
            f" (the header declares {ev.frames_declared:,})"
            if ev.frames_declared and ev.frames_declared != ev.frame_count else "")
         + (f"; {ev.frames_in_file:,} frame packets in the file"
            if ev.frames_in_file and ev.frames_in_file != ev.frame_count else "")),
        ("Decoder errors", f"{ev.decode_errors:,}" if ev.decode_errors else "none met"),
        ("Video streams", kit.text(("; ".join(ev.video_streams) or "1") + (
            f" (stream {ev.stream} analysed)" if len(ev.video_streams) > 1 else ""))),
        ("Duration", f"{ev.duration_s:.3f} s ({timecode(ev.duration_s)})"),
        ("Rotation", f"{ev.rotation}°" + (" (applied before analysis)" if ev.rotation else "")),
    ]
    if ev.is_still_image:
        rows.append(("Still image", "yes: analysed as a single frame"))
    return [kit.p("1. Evidence", kit.h2),
            kit.p("The evidence file was opened read-only and hashed before analysis and again "
                  "when this report was made; nothing was written beside it.", kit.body),
            kit.fields(rows)]


def _now_hash(kit: Kit, value: str | None, intake: str) -> list[Flowable]:
    """A hash re-computed now, with match / MISMATCH against its intake value."""
    if value is None:
        return [kit.p(hash_status("missing"), kit.cell)]
    return [kit.code(value), kit.p(hash_status("ok" if value == intake else "changed"), kit.cell)]


# -- 2 method -------------------------------------------------------------------------------
def method(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    r = ctx.results
    return [kit.p("2. Method", kit.h2),
            kit.p("Tool", kit.h3), kit.fields(_tool_rows(kit, r)),
            kit.p("Model", kit.h3), kit.fields(_model_rows(kit, r)),
            *_held_out_table(kit, r),
            *_conditions_table(kit, r),
            kit.p("Sampling, faces, explanation", kit.h3), kit.fields(_setting_rows(kit, r)),
            kit.p("To re-run", kit.h3),
            kit.p("The same file, model (same SHA-256), settings and seed give the same numbers "
                  "on the same kind of device; GPU and CPU may differ in the last digits.",
                  kit.body),
            kit.code(rerun_command(r))]


def _tool_rows(kit: Kit, r: Results) -> list[tuple[str, Any]]:
    t = r.tool
    return [("Name and version", kit.text(f"{t.name} {t.version}")),
            ("Source revision", kit.code(t.revision)),
            ("Runtime", kit.text(f"Python {t.python or '?'}, PyTorch {t.torch or '?'}"
                                 f", {t.platform or '?'}")),
            ("Device", kit.text(t.device or r.settings.model_device or "?"))]


def _model_rows(kit: Kit, r: Results) -> list[tuple[str, Any]]:
    m = r.model
    rows: list[tuple[str, Any]] = [
        ("Name and version", model_line(kit, r)),
        ("Weights SHA-256", kit.code(m.sha256)),
        ("Description", kit.text(m.description or "—")),
        ("Training data", kit.text(m.training_data or "not stated on the model card")),
        ("Measured error rates", kit.text(_error_rates_text(m.metrics))),
        ("Input", f"face crops of {m.input_size} × {m.input_size} pixels"),
        ("Calibration", f"temperature {m.temperature_spatial} (frames), "
                        f"{m.temperature_temporal} (clip); threshold "
                        f"{m.threshold}; identity score = {m.fusion} of the two"),
    ]
    return rows


def _error_rates_text(metrics: dict[str, Any]) -> str:
    if not held_out_figures(metrics):
        return metrics_text(metrics)
    validation = {k: v for k, v in metrics.items() if k.startswith("validation_")}
    return ("On held-out data: the table below. On the validation sets (used to choose the "
            "training epoch, so not independent):\n" + metrics_text(validation))


def _held_out_table(kit: Kit, r: Results) -> list[Flowable]:
    """The model card's held-out figures against the project's targets, as its card states
    them (`core.models.figures`): how far the examiner can lean on this model."""
    rows = held_out_figures(r.model.metrics)
    if not rows:
        return []
    unmet = unmet_targets(r.model.metrics)
    summary = ("It meets this project's detection targets on these figures." if not unmet else
               "It does not reach every detection target this project set; not reached: "
               + "; ".join(unmet) + ". Weigh its verdict accordingly.")
    return [kit.p("How this model does on held-out data (its model card)", kit.h3),
            kit.text("Measured on people, source videos and clips it was never trained on, "
                     "with forensics-app evaluate. " + summary, kit.body),
            kit.grid(["Held-out measurement", "Figure", "Target"],
                     [[kit.text(a), kit.text(b), kit.text(c or "—")] for a, b, c in rows],
                     shares=(0.58, 0.30, 0.12))]


CONDITION_NAMES = {"face_size": "face size", "compression": "compression (blockiness)",
                   "edge_in_margin": "straight edge in the crop", "blur": "sharpness",
                   "pose": "head turn (yaw)", "frames": "analysed frames"}


def _conditions_table(kit: Kit, r: Results) -> list[Flowable]:
    """The deciding face measured against the conditions the model was validated on (any
    outside them caps the verdict at "moderate"); nothing for results made before the check."""
    if not r.conditions:
        return []
    outside = [c for c in r.conditions if c.outside]
    lead = ("The deciding face lies within every condition measured." if not outside else
            f"{len(outside)} condition(s) lie outside those the model was validated on, so the "
            "verdict's band is capped at moderate: a calibrated probability is calibrated on "
            "its validation data's conditions only.")
    rows = [[kit.text(CONDITION_NAMES.get(c.name, c.name)),
             kit.text(_condition_value(c.name, c.value)),
             kit.text(_condition_value(c.name, c.limit)),
             kit.p(f'<font color="{RED.hexval()}"><b>outside</b></font>' if c.outside
                   else "within", kit.cell)] for c in r.conditions]
    return [kit.p("The input against the validated conditions", kit.h3),
            kit.text(lead + " Measured per face and taken as the deciding identity's median "
                     "(README, \"When a verdict may claim confidence\").", kit.body),
            kit.grid(["Condition", "Measured", "Limit", ""], rows,
                     shares=(0.45, 0.2, 0.2, 0.15))]


def _condition_value(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    if name in ("face_size", "frames"):
        return f"{value:.0f}" + (" px" if name == "face_size" else "")
    return f"{value:.0%}" if name == "edge_in_margin" else f"{value:.2f}"


SUMMARY_KEYS = ("count", "auc", "accuracy", "eer", "f1", "threshold")


def metrics_text(metrics: dict[str, Any]) -> str:
    """A model card's (possibly nested) metrics, one line per evaluated set.

    Cards hold whole evaluations (confusion matrices, per-clip scores, notes); the report
    shows the headline figures of each set and points to the card for the rest.
    """
    if not metrics:
        return "none recorded on the model card"
    lines = _metric_lines(metrics, "")
    if len(lines) > MAX_METRIC_LINES:
        lines = [*lines[:MAX_METRIC_LINES], "… (more in the model card)"]
    return "\n".join(lines) or "no headline figures on the model card"


def _metric_lines(metrics: dict[str, Any], prefix: str) -> list[str]:
    lines = []
    for key, value in metrics.items():
        if not isinstance(value, dict):
            continue
        figures = [f"{name} {_figure(value[name])}" for name in SUMMARY_KEYS if name in value]
        if figures:
            lines.append(f"{prefix}{key}: " + ", ".join(figures))
        lines += _metric_lines(value, f"{prefix}{key}.")
    return lines


MAX_METRIC_LINES = 12


def _figure(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _setting_rows(kit: Kit, r: Results) -> list[tuple[str, Any]]:
    s = r.settings
    segment = s.segment
    detector = asdict(s.face_detector) if s.face_detector else {}
    return [
        ("Frames sampled", f"{len(r.sampled_frames)} (asked {s.frames}), evenly spaced "
                           + ("over the whole clip" if not segment
                              else "over frames {}–{}".format(*segment))),
        ("Sampled video frames", kit.code(frame_list(r.sampled_frames, 120))),
        ("Face detector", kit.code(", ".join(f"{k}={v}" for k, v in detector.items())
                                   or s.detector)),
        ("Face crops and tracking",
         f"minimum detector score {s.min_face_score}; crop margin "
         f"{s.margin:.0%} around the box; detections linked into identities "
         "by box overlap (IoU tracker)"),
        ("Explanation", f"{s.explain} maps shown (transformer relevancy, attention "
                        "rollout and Grad-CAM++ are all stored); temporal attention from "
                        "every layer and head"),
        ("Device", kit.text(f"asked {s.device}, ran on {s.model_device or '?'}")),
        ("Seed, batch size", f"{s.seed}, {s.batch_size}"),
        ("Stage timings", kit.text(", ".join(f"{k} {v:.1f} s"
                                             for k, v in (r.timings_s or {}).items()) or "—")),
    ]


def container_name(demuxer: str, file_name: str) -> str:
    """The container as people name it: FFmpeg's MP4 demuxer is "mov,mp4,m4a,3gp,3g2,mj2",
    so a clip.mp4 it read is "MP4", the demuxer kept in brackets for the technical reader."""
    names = [n for n in demuxer.split(",") if n]
    extension = Path(file_name).suffix.lower().lstrip(".")
    name = extension if extension in names else (names[0] if names else demuxer or "?")
    return name.upper() if names == [name] else f"{name.upper()} (FFmpeg demuxer {demuxer})"


def rerun_command(r: Results) -> str:
    """The analyze command that reproduces this analysis, flags written from the settings'
    one definition (core/analysis/settings.py)."""
    return " ".join(["forensics-app", "analyze", _quote(r.evidence.path), "--out", "OUT",
                     *r.settings.asked().command_line(), "--model", _quote(r.model.name)])


def _quote(text: str) -> str:
    return f'"{text}"' if any(c.isspace() for c in text) else text
