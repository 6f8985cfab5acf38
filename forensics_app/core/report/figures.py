"""The report's figures, drawn with matplotlib's Agg canvas into PNG bytes.

`matplotlib.figure.Figure` is used directly, never pyplot: no global figure state, no GUI
backend, safe in the GUI's worker thread.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from forensics_app.core.analysis.results import Results
from forensics_app.core.explain.attention import (
    NEAR_UNIFORM,
    ColourScale,
    average_attention,
    colour_scale,
    expected_range,
)

DPI = 150
RED = "#c62828"
BLUE = "#1f5fa8"
GREY = "#9e9e9e"
ORANGE = "#e07b00"
CMAP = "viridis"
SUMMARY_FILE = "summary.png"
# Figure sizes in inches (width, height); the report scales each to the text width.
SUMMARY_SIZE = (7.2, 6.2)
HEADS_SIZE = (7.2, 3.7)
TIMELINE_SIZE = (7.2, 2.8)


def layer_file(layer: int) -> str:
    """The PNG name of layer `layer`'s head figure (layer counted from 0, named from 1)."""
    return f"layer_{layer + 1}_all_heads.png"


def figure_files(results: Results, attention: np.ndarray) -> dict[str, bytes]:
    """Every figure investigators may attach elsewhere, by file name: the 2×2 summary and one
    head figure per layer, the layers on one shared colour scale so they compare."""
    files = {SUMMARY_FILE: summary_figure(results, attention)}
    for layer in range(attention.shape[0] if attention.size else 0):
        scale = colour_scale(attention[layer], shared=attention)
        files[layer_file(layer)] = head_figure(attention[layer], layer, scale)
    return files


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=8, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def summary_figure(results: Results, attention: np.ndarray) -> bytes:
    """The 2×2 summary as PNG (see draw_summary)."""
    return _png(draw_summary(results, attention))


def draw_summary(results: Results, attention: np.ndarray) -> Figure:
    """The 2×2 summary: Ā, self-attention strength with the frame relevancy, attention range
    with the expected range, prediction bars. Legends sit below their plots, never on data."""
    # Fixed margins: constrained layout costs more than all the drawing here.
    fig = Figure(figsize=SUMMARY_SIZE)
    axes = fig.subplots(2, 2, gridspec_kw={"left": 0.08, "right": 0.92, "top": 0.95,
                                           "bottom": 0.15, "wspace": 0.42, "hspace": 0.55})
    frames = np.asarray(results.attention_frames)
    if attention.size:
        mean = average_attention(attention.astype(np.float64))
        _average_panel(axes[0, 0], mean, fig)
        _strength_panel(axes[0, 1], frames, np.asarray(results.self_attention),
                        np.asarray(results.frame_relevancy))
        expected = (results.expected_range if results.expected_range is not None
                    else expected_range(mean))
        _range_panel(axes[1, 0], frames, np.asarray(results.attention_range),
                     np.asarray(expected), set(results.unusual_frames))
    else:
        for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
            _empty(ax, "no temporal attention: the deciding face\nwas seen in fewer than 2 "
                       "sampled frames")
    _prediction_panel(axes[1, 1], results)
    return fig


def _average_panel(ax: Axes, mean: np.ndarray, fig: Figure) -> None:
    scale = colour_scale(mean)
    image = ax.imshow(mean, cmap=CMAP, interpolation="nearest", vmin=scale.low,
                      vmax=scale.high)
    fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    title = "Average attention Ā (all layers, heads)"
    if scale.near_uniform:
        title += f"\nnear uniform: within ±{scale.deviation:.1%} of 1/T"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("attended frame (token)", fontsize=8)
    ax.set_ylabel("attending frame (token)", fontsize=8)
    ax.tick_params(labelsize=7)


def _strength_panel(ax: Axes, frames: np.ndarray, strength: np.ndarray,
                    relevancy: np.ndarray) -> None:
    ax.plot(frames, strength, color=BLUE, marker=".", markersize=3, linewidth=1)
    ax.set_title("Self-attention s_i = Ā[i,i]; frame relevancy", fontsize=9)
    ax.set_xlabel("video frame", fontsize=8)
    ax.set_ylabel("s_i", fontsize=8, color=BLUE)
    ax.tick_params(labelsize=7)
    if relevancy.size == frames.size and frames.size:
        twin = ax.twinx()
        twin.plot(frames, relevancy, color=ORANGE, linestyle="--", marker=".", markersize=3,
                  linewidth=1)
        twin.set_ylim(0, 1.05)
        twin.set_ylabel("relevancy (drove the clip score)", fontsize=7, color=ORANGE)
        twin.tick_params(labelsize=7)


def _range_panel(ax: Axes, frames: np.ndarray, ranges: np.ndarray, expected: np.ndarray,
                 unusual: set[int]) -> None:
    ax.plot(frames, expected, color=GREY, linestyle="--", linewidth=1.2,
            label="expected r̂_i (stationary)")
    ax.plot(frames, ranges, color=BLUE, linewidth=1, label="r_i")
    marked = np.array([f in unusual for f in frames], bool)
    ax.scatter(frames[~marked], ranges[~marked], s=6, color=BLUE)
    ax.scatter(frames[marked], ranges[marked], s=22, color=RED, zorder=3,
               label="unusual (r − r̂ beyond 2σ)")
    ax.set_title("Attention range r_i (sampled-frame units)", fontsize=9)
    ax.set_xlabel("video frame", fontsize=8)
    ax.tick_params(labelsize=7)
    _legend_below(ax, ncol=2)


def _prediction_panel(ax: Axes, results: Results) -> None:
    pred = results.prediction
    idents = results.identities
    if not idents:
        _empty(ax, "no face found: no prediction")
        return
    labels = [f"identity {i.track_id}" for i in idents]
    y = np.arange(len(idents))
    spatial = [i.p_fake_spatial for i in idents]
    temporal = [np.nan if i.p_fake_temporal is None else i.p_fake_temporal for i in idents]
    fused = [i.p_fake for i in idents]
    ax.barh(y - 0.27, spatial, height=0.25, color=GREY, label="frames (mean)")
    ax.barh(y, temporal, height=0.25, color="#7e57c2", label="clip (temporal)")
    colors = [RED if i.track_id == pred.decided_by_track else BLUE for i in idents]
    ax.barh(y + 0.27, fused, height=0.25, color=colors, label="identity score (red: decides)")
    ax.axvline(pred.threshold, color="black", linestyle="--", linewidth=1, label="threshold")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("p_fake", fontsize=8)
    verdict = pred.label.upper() + ("" if pred.p_fake is None else f", p_fake {pred.p_fake:.2f}")
    ax.set_title(f"Prediction: {verdict}", fontsize=9)
    ax.tick_params(labelsize=7)
    _legend_below(ax, ncol=2)


def _legend_below(ax: Axes, ncol: int) -> None:
    """The legend under the axis label, outside the plot: it never covers a bar or a curve."""
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol,
              frameon=False, borderaxespad=0.0)


def head_figure(layer_attention: np.ndarray, layer: int, scale: ColourScale | None = None
                ) -> bytes:
    """One layer's head figure as PNG (see draw_heads)."""
    return _png(draw_heads(layer_attention, layer, scale))


def draw_heads(layer_attention: np.ndarray, layer: int, scale: ColourScale | None = None
               ) -> Figure:
    """One layer's heads on a 2-row grid with one shared colour scale, so heads compare.

    `scale`: the colour limits (core.explain.attention.colour_scale); by default shared over
    this layer's heads. The heads are tiled into one mosaic image drawn by a single imshow: one
    subplot per head costs about a second per figure in layout and compositing, the mosaic a
    tenth of that.
    """
    heads = layer_attention.shape[0]
    if scale is None:
        scale = colour_scale(layer_attention[0], shared=layer_attention)
    # Few frames: blow each cell up so the gaps and labels, in cell units, keep their size.
    zoom = math.ceil(40 / max(layer_attention.shape[-1], 1))
    maps = [np.kron(layer_attention[h], np.ones((zoom, zoom))) for h in range(heads)]
    tokens = maps[0].shape[0] if maps else 0
    cols = max(1, math.ceil(heads / 2))
    gap, label = tokens // 12, tokens // 4  # label: room for "head k" above each tile
    step_x, step_y = tokens + gap, tokens + label
    mosaic = np.full((2 * step_y, cols * step_x - gap), np.nan)
    for head, tile in enumerate(maps):
        row, col = divmod(head, cols)
        mosaic[row * step_y + label:(row + 1) * step_y, col * step_x:col * step_x + tokens] = tile
    fig = Figure(figsize=HEADS_SIZE)
    ax = fig.add_axes((0.02, 0.02, 0.86, 0.84))
    image = ax.imshow(mosaic, cmap=CMAP, vmin=scale.low, vmax=scale.high,
                      interpolation="nearest")
    for head in range(heads):
        row, col = divmod(head, cols)
        even = colour_scale(layer_attention[head]).near_uniform
        ax.text(col * step_x + tokens / 2, row * step_y + label * 0.8,
                f"head {head + 1}" + (" (≈ uniform)" if even else ""),
                ha="center", va="bottom", fontsize=8)
    ax.axis("off")
    colorbar = fig.colorbar(image, cax=fig.add_axes((0.9, 0.1, 0.02, 0.7)))
    colorbar.ax.tick_params(labelsize=7)
    fig.suptitle(f"Layer {layer + 1}: frame-to-frame attention per head\n(one colour scale "
                 f"for all layers, 0 to {scale.high:.3g}; ≈ uniform: every weight within "
                 f"{NEAR_UNIFORM:.0%} of 1/T)", fontsize=8, y=0.995)
    return fig


def timeline_figure(results: Results) -> bytes:
    """The score timeline as PNG (see draw_timeline)."""
    return _png(draw_timeline(results))


def draw_timeline(results: Results) -> Figure:
    """Per-frame p_fake of every identity over the clip, unusual frames marked in red; the
    legend above the plot, right of the title."""
    fig = Figure(figsize=TIMELINE_SIZE)
    ax = fig.add_axes((0.08, 0.16, 0.9, 0.74))
    for track, (frames, scores) in _track_series(results).items():
        ax.plot(frames, scores, marker=".", markersize=3, linewidth=1,
                label=f"identity {track}")
    for n, frame in enumerate(results.unusual_frames):
        ax.axvline(frame, color=RED, alpha=0.6, linewidth=1,
                   label="unusual frame" if n == 0 else None)
    ax.axhline(results.prediction.threshold, color="black", linestyle="--", linewidth=1,
               label="threshold")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(results.evidence.frame_count - 1, 1))
    ax.set_xlabel(f"video frame (at {results.evidence.fps:g} fps)", fontsize=8)
    ax.set_ylabel("p_fake per frame", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, frameon=False,
              borderaxespad=0.2)
    ax.set_title("Per-frame score timeline", fontsize=9, loc="left")
    return fig


def _track_series(results: Results) -> dict[int, tuple[list[int], list[float]]]:
    series: dict[int, tuple[list[int], list[float]]] = {}
    for frame, faces in zip(results.sampled_frames, results.faces, strict=True):
        for face in faces:
            if face.p_fake is not None:
                frames, scores = series.setdefault(face.track_id, ([], []))
                frames.append(frame)
                scores.append(face.p_fake)
    return series
