"""The report's content after the method: findings, notes, audit log, limitations."""

from __future__ import annotations

import io
import json
from typing import Any

from reportlab.platypus import Flowable, Image, KeepTogether, ListFlowable, ListItem, Spacer

from forensics_app.core.analysis.metrics import indicator_label, indicator_number, rates_text
from forensics_app.core.report import figures
from forensics_app.core.report.context import FrameRow, ReportContext
from forensics_app.core.report.document import RED, Kit
from forensics_app.core.report.sections import frame_list, num, timecode
from forensics_app.core.report.text import SHAPING_AVAILABLE

FIGURE_ASPECTS = {name: height / width for name, (width, height) in (
    ("summary", figures.SUMMARY_SIZE), ("heads", figures.HEADS_SIZE),
    ("timeline", figures.TIMELINE_SIZE))}
# Unusual-frames table: frame, thumbnail, face, value, why (shares of the text width).
ROW_SHARES = (0.13, 0.25, 0.17, 0.18, 0.27)
HIDDEN_AUDIT_KEYS = {"utc", "event", "prev_sha256"}


def _figure(kit: Kit, png: bytes, aspect: float, caption: str) -> list[Flowable]:
    """The picture and its caption, kept together (and with a heading before them)."""
    width = kit.width
    image = Image(io.BytesIO(png), width=width, height=width * aspect)
    # keepWithNext rather than a KeepTogether: the document joins a run of keepWithNext
    # flowables into one block, which a KeepTogether (a container) cannot be part of, so
    # the heading before a figure would stay behind at a page foot.
    image.keepWithNext = 1
    return [image, kit.p(caption, kit.caption)]


def _picture(jpeg: bytes | None, share: float, kit: Kit) -> Flowable | str:
    if jpeg is None:
        return "no face analysed in this frame"
    width = kit.width * share - 8  # minus the cell's padding (4 + 4)
    image = Image(io.BytesIO(jpeg))
    image.drawHeight = width * image.imageHeight / image.imageWidth
    image.drawWidth = width
    return image


# -- 3 findings -----------------------------------------------------------------------------
def findings(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    r, attention = ctx.results, ctx.bundle.attention
    pngs = ctx.figures or figures.figure_files(r, attention)
    story: list[Flowable] = [kit.p("3. Findings", kit.h2)]
    story.extend(_figure(kit, pngs[figures.SUMMARY_FILE], FIGURE_ASPECTS["summary"],
                         "Figure 1. Top left: average frame-to-frame attention Ā over all "
                         "layers and heads. Top right: self-attention strength per frame "
                         "(blue) and the frame relevancy, how much each frame drove the clip "
                         "score (orange, dashed). Bottom left: attention range r_i per frame "
                         "and, dashed, the range r̂_i expected at that position if the "
                         "attention were stationary (frames near the clip's ends can only look "
                         "one way, so both rise there); unusual frames, whose r - r̂ lies "
                         "beyond 2σ and at least one sampled frame from its mean, in red. "
                         "Bottom right: scores per identity against the threshold; the "
                         "deciding identity in red."))
    story.extend(_figure(kit, figures.timeline_figure(r), FIGURE_ASPECTS["timeline"],
                         "Figure 2. Per-frame p_fake of each identity over the clip; red lines "
                         "mark the unusual frames."))
    story += [kit.p("Identities", kit.h3), _identities(ctx, kit)]
    story += [kit.p("Indicators", kit.h3), _indicators(ctx, kit)]
    story += [kit.p("Unusual frames and indicator findings", kit.h3), *_frames(ctx, kit)]
    story.append(kit.p("Attention per layer and head", kit.h3))
    for layer in range(attention.shape[0] if attention.size else 0):
        story.extend(_figure(kit, pngs[figures.layer_file(layer)], FIGURE_ASPECTS["heads"],
                             f"Figure {3 + layer}. Layer {layer + 1}: attention between the "
                             f"{attention.shape[-1]} frame tokens, one panel per head "
                             "(row = attending frame, column = attended frame), every layer on "
                             "the same colour scale."))
    if not attention.size:
        story.append(kit.p("No temporal attention: the deciding face was seen in fewer than two "
                           "sampled frames.", kit.body))
    return story


def _identities(ctx: ReportContext, kit: Kit) -> Flowable:
    r = ctx.results
    rows = [[str(i.track_id), f"{len(i.frames)}",
             f"{i.frames[0]}–{i.frames[-1]}" if i.frames else "—",
             num(i.p_fake_spatial), num(i.p_fake_temporal), f"<b>{num(i.p_fake)}</b>",
             "decides the verdict" if i.track_id == r.prediction.decided_by_track else ""]
            for i in r.identities]
    if not rows:
        return kit.p("No face was found in the sampled frames.", kit.body)
    return kit.grid(["Identity", "Frames", "Span", "p_fake frames (mean)", "p_fake clip",
                     "Identity score", ""], rows, (0.1, 0.09, 0.14, 0.17, 0.14, 0.14, 0.22))


def _indicators(ctx: ReportContext, kit: Kit) -> Flowable:
    rows = []
    for ind in ctx.results.indicators:
        if ind.threshold is None:
            state = "reference"
        elif ind.flagged:
            state = f'<font color="{RED.hexval()}"><b>TRIGGERED</b></font>'
        elif ind.reference_only:
            state = "reference only" + (" (past threshold)" if ind.triggered else "")
        else:
            state = "no"
        rows.append([kit.text(indicator_label(ind.name)), indicator_number(ind.name, ind.value),
                     indicator_number(ind.name, ind.threshold, "g"), state,
                     kit.text(rates_text(ind)), kit.text(frame_list(ind.frames, 12)),
                     kit.text(ind.description)])
    if not rows:
        return kit.p("No indicators (no face was scored).", kit.body)
    return kit.grid(["Indicator", "Value", "Threshold", "Triggered", "Validation clips",
                     "Frames", "Meaning"],
                    rows, (0.17, 0.07, 0.08, 0.11, 0.21, 0.11, 0.25))


def _frames(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    if not ctx.rows:
        return [kit.p("No unusual frames: no frame's attention range departs from the range "
                      "expected at its position by more than 2σ, and no triggered indicator "
                      "points at frames.", kit.body)]
    intro = kit.p("Each row: the frame (video frame number and timecode), the whole frame "
                  "with the face box in yellow, the face crop with the model's "
                  f"{ctx.results.settings.explain} map over it (red = "
                  "most relevant), the value and why it was flagged.", kit.body)
    rows = [_frame_row(row, kit) for row in ctx.rows]
    table = kit.grid(["Frame", "Frame picture", "Face and map", "Value", "Why flagged"], rows,
                     ROW_SHARES)
    note = [kit.p(ctx.images_note, kit.caption)] if ctx.images_note else []
    return [intro, *note, table]


def _frame_row(row: FrameRow, kit: Kit) -> list[Any]:
    images = row.images
    values = row.values + ([f"face p_fake {row.p_fake:.3f}"] if row.p_fake is not None else [])
    return [f"<b>{row.frame}</b><br/>{timecode(row.time_s)}",
            _picture(images.thumbnail, ROW_SHARES[1], kit) if images else "—",
            _picture(images.face, ROW_SHARES[2], kit) if images else "—",
            kit.text("\n".join(values)),
            kit.text("\n".join(row.reasons))]


# -- 4 notes, 5 audit -----------------------------------------------------------------------
def notes(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    story: list[Flowable] = [kit.p("4. Examiner notes", kit.h2)]
    if not ctx.notes:
        return [*story, kit.p("No notes were recorded.", kit.body)]
    rows = [[n.utc.replace("+00:00", "Z"), kit.text(n.author or "—"),
             "—" if n.frame is None else str(n.frame), kit.text(n.text)] for n in ctx.notes]
    return [*story, kit.grid(["Time (UTC)", "Author", "Frame", "Note"], rows,
                             (0.2, 0.16, 0.08, 0.56))]


def audit(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    story: list[Flowable] = [kit.p("5. Audit log", kit.h2)]
    if ctx.audit_chain_ok is None:
        story.append(kit.p("No case folder: the events below are reconstructed from "
                           "results.json.", kit.body))
    elif ctx.audit_chain_ok:
        story.append(kit.p("From the case's append-only audit log; its hash chain is intact "
                           "(no line was edited or removed).", kit.body))
    else:
        story.append(kit.banner("AUDIT LOG CHAIN BROKEN: a line of the case's audit log was "
                                "edited, removed or reordered after it was written."))
    rows = [[str(e.get("utc", "")).replace("+00:00", "Z"), kit.text(str(e.get("event", ""))),
             kit.code(_details(e))] for e in ctx.audit]
    rows.append([ctx.generated.strftime("%Y-%m-%dT%H:%M:%SZ"), "this report generated",
                 kit.code(f"report_id={ctx.report_id}")])
    return [*story, kit.grid(["Time (UTC)", "Event", "Details"], rows, (0.2, 0.22, 0.58))]


def _details(event: dict[str, Any]) -> str:
    return "; ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                     for k, v in event.items() if k not in HIDDEN_AUDIT_KEYS and v is not None)


# -- 6 limitations --------------------------------------------------------------------------
def limitations(ctx: ReportContext, kit: Kit) -> list[Flowable]:
    m = ctx.results.model
    items = [
        "The model was trained on: " + (m.training_data or "(not stated on the model "
                                        "card)") + ". It was not trained on, and may fail on, "
        "manipulation methods, sources and qualities unlike that data: new face-swap or "
        "reenactment methods, heavily compressed or re-encoded copies, very small or turned "
        "faces, and fully synthetic video. It does not examine audio.",
        *m.limitations,
        "An attention or relevancy map shows where the model looked, not proof of "
        "manipulation. Unusual frames and indicators are statistical leads for an examiner, "
        "not findings of fact.",
        "p_fake is calibrated on the model's validation data; on material unlike it the "
        "probability can be far off. The confidence band only restates that probability.",
        "The result is one piece of evidence. It should be weighed with the file's provenance, "
        "its metadata and an examiner's own review of the frames.",
        "Pictures in this report are decoded again from the evidence file at report time, "
        "after its hash was checked.",
    ]
    if ctx.placeholder:
        items.insert(0, "THE MODEL IS AN UNTRAINED PLACEHOLDER: every score in this report is "
                        "meaningless.")
    if not SHAPING_AVAILABLE:
        items.append("Right-to-left text (Arabic, Hebrew) is printed unshaped, in logical "
                     "order: arabic-reshaper and python-bidi are not installed.")
    missing = ctx.fonts_missing
    if missing:
        items.append("Some characters had no font and print as empty boxes: "
                     + " ".join(sorted(missing)))
    # The signature never stands alone on a page: it keeps the last limitation with it.
    return [kit.p("6. Limitations", kit.h2), _bullets(kit, items[:-1]),
            KeepTogether([_bullets(kit, items[-1:]), Spacer(1, 18), _signature(kit)])]


def _bullets(kit: Kit, items: list[str]) -> Flowable:
    return ListFlowable([ListItem(kit.text(t, kit.body), leftIndent=12) for t in items],
                        bulletType="bullet", start="•", leftIndent=12)


def _signature(kit: Kit) -> Flowable:
    return kit.fields([
        ("Examiner signature", "<br/><br/>______________________________"),
        ("Date", "<br/>______________________________")])
