"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): fakes made from real faces only.

A real face crop is copied twice; one copy (the *source*) is altered (colour and brightness
jitter, sharpen or blur, a slight resize and shift) and blended into the untouched *target*
through a mask built from the FaceMesh landmarks (the convex hull of the face or a random
sub-region of it, elastically deformed, blurred, scaled by a random blend ratio). The result
carries the two traces every face swap leaves, a blending boundary and a statistical mismatch
between the inner face and its surroundings, without any real deepfake in the training set.

Everything is driven by a `BlendParams` drawn from a `numpy.random.Generator`, so a blend is
reproducible from its seed, and the temporal fakes can jitter the parameters frame to frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np

# FaceMesh landmark groups for sub-region masks (indices into the 468 points).
_LOWER_FACE = [
    # jaw line, chin, cheeks below the eyes, mouth and nose base
    234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
    361, 323, 454, 1, 4, 5, 195, 205, 425, 50, 280,
]
_INNER_FACE = [
    # eyebrows, eyes, nose, mouth: the inner face without the forehead and jaw
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300, 33, 133, 362, 263, 1, 61, 291, 17, 0,
    205, 425, 152, 148, 377,
]
_UPPER_FACE = [
    # forehead, eyebrows, eyes, nose bridge
    10, 338, 297, 332, 284, 251, 389, 356, 454, 234, 127, 162, 21, 54, 103, 67, 109, 6, 168,
    33, 263, 1,
]
REGIONS = ("hull", "lower", "inner", "upper")
_REGION_POINTS = {"lower": _LOWER_FACE, "inner": _INNER_FACE, "upper": _UPPER_FACE}


@dataclass(frozen=True)
class BlendParams:
    """Everything that decides one self-blend; `sample_params` draws it, `jitter` perturbs it."""

    region: str = "hull"  # "hull" (whole face) or a sub-region: "lower", "inner", "upper"
    blend_ratio: float = 1.0  # peak mask value, (0, 1]
    blur_sigma: float = 3.0  # mask blur, in pixels at the crop size
    mask_scale: float = 1.0  # hull grown (>1) or shrunk (<1) about its centre
    elastic_alpha: float = 6.0  # elastic deformation strength, pixels
    elastic_sigma: float = 8.0  # its smoothness, pixels
    elastic_seed: int = 0  # the deformation field's seed
    hue_shift: float = 0.0  # degrees
    saturation: float = 1.0  # gain
    brightness: float = 0.0  # added, in [0, 255] units
    contrast: float = 1.0  # gain about the mean
    sharpen: float = 0.0  # > 0 sharpen amount, < 0 Gaussian blur sigma
    scale: float = 1.0  # source resize factor (about the centre)
    shift_x: float = 0.0  # source shift in pixels
    shift_y: float = 0.0
    swap: bool = False  # True: alter the target instead of the source


def sample_params(rng: np.random.Generator, size: int = 256) -> BlendParams:
    """Random self-blend parameters; pixel quantities scale with the crop size."""
    unit = size / 256.0
    region = REGIONS[0] if rng.random() < 0.6 else str(rng.choice(REGIONS[1:]))
    sharpen = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.5 else -float(rng.uniform(0.3,
                                                                                          1.5))
    return BlendParams(
        region=region,
        blend_ratio=float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])),
        blur_sigma=float(rng.uniform(1.0, 6.0)) * unit,
        mask_scale=float(rng.uniform(0.9, 1.05)),
        elastic_alpha=float(rng.uniform(2.0, 10.0)) * unit,
        elastic_sigma=float(rng.uniform(6.0, 12.0)) * unit,
        elastic_seed=int(rng.integers(2**31)),
        hue_shift=float(rng.uniform(-8, 8)),
        saturation=float(rng.uniform(0.8, 1.2)),
        brightness=float(rng.uniform(-20, 20)),
        contrast=float(rng.uniform(0.85, 1.15)),
        sharpen=sharpen,
        scale=float(rng.uniform(0.95, 1.05)),
        shift_x=float(rng.uniform(-3, 3)) * unit,
        shift_y=float(rng.uniform(-3, 3)) * unit,
        swap=bool(rng.random() < 0.5),
    )


def jitter(params: BlendParams, rng: np.random.Generator, amount: float = 1.0) -> BlendParams:
    """Frame-to-frame variation of a clip's blend: the flicker real deepfakes show."""
    a = amount
    return replace(
        params,
        blend_ratio=float(np.clip(params.blend_ratio + rng.normal(0, 0.1 * a), 0.2, 1.0)),
        blur_sigma=float(max(0.5, params.blur_sigma * np.exp(rng.normal(0, 0.25 * a)))),
        mask_scale=float(np.clip(params.mask_scale + rng.normal(0, 0.02 * a), 0.85, 1.1)),
        elastic_seed=int(rng.integers(2**31)),
        hue_shift=params.hue_shift + float(rng.normal(0, 2 * a)),
        brightness=params.brightness + float(rng.normal(0, 5 * a)),
        contrast=float(params.contrast * np.exp(rng.normal(0, 0.04 * a))),
        shift_x=params.shift_x + float(rng.normal(0, 1 * a)),
        shift_y=params.shift_y + float(rng.normal(0, 1 * a)),
    )


def hull_mask(points: np.ndarray, shape: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """Filled convex hull of `points` (N, 2 pixels) as float32 {0, 1}, grown by `scale`."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if scale != 1.0:
        centre = pts.mean(axis=0)
        pts = centre + (pts - centre) * scale
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(np.float32)


def face_region(landmarks: np.ndarray, shape: tuple[int, int], grow: float = 0.12
                ) -> np.ndarray:
    """The face as the blends may touch it: the landmark hull dilated by `grow` × face size.

    Every self-blend mask lies inside this region (the tests assert it on pixels).
    """
    hull = hull_mask(landmarks, shape)
    pts = np.asarray(landmarks, np.float64)
    face_size = float(np.sqrt(max(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]), 1.0)))
    radius = max(1, round(grow * face_size))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(hull, kernel).astype(np.float32)


def blend_mask(landmarks: np.ndarray, shape: tuple[int, int], params: BlendParams
               ) -> np.ndarray:
    """The soft blending mask, float32 in [0, blend_ratio], inside `face_region`."""
    points = landmarks if params.region == "hull" else landmarks[_REGION_POINTS[params.region]]
    mask = hull_mask(points, shape, params.mask_scale)
    mask = _elastic(mask, params.elastic_alpha, params.elastic_sigma, params.elastic_seed)
    mask = (mask > 0.5).astype(np.float32)
    mask = _gauss(mask, params.blur_sigma)
    peak = float(mask.max())
    if peak > 0:
        mask = mask / peak
    mask = mask * face_region(landmarks, shape)
    mask[mask < 1.0 / 512] = 0.0  # tails that would round to the target's pixel anyway
    return (mask * params.blend_ratio).astype(np.float32)


def alter(image: np.ndarray, params: BlendParams) -> np.ndarray:
    """The altered copy: colour, brightness and contrast, sharpen or blur, resize and shift."""
    img = image.astype(np.float32)
    if params.hue_shift or params.saturation != 1.0:
        hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
        hsv = hsv.astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + params.hue_shift / 2.0) % 180.0  # OpenCV hue is 0-179
        hsv[..., 1] = np.clip(hsv[..., 1] * params.saturation, 0, 255)
        img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = img.mean(axis=(0, 1), keepdims=True)
    img = (img - mean) * params.contrast + mean + params.brightness
    if params.sharpen > 0:
        img = img + params.sharpen * (img - _gauss(img, 1.0))
    elif params.sharpen < 0:
        img = _gauss(img, -params.sharpen)
    h, w = img.shape[:2]
    if params.scale != 1.0 or params.shift_x or params.shift_y:
        cx, cy = w / 2.0, h / 2.0
        matrix = np.array([[params.scale, 0, cx - params.scale * cx + params.shift_x],
                           [0, params.scale, cy - params.scale * cy + params.shift_y]])
        img = cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def self_blend(image: np.ndarray, landmarks: np.ndarray, params: BlendParams
               ) -> tuple[np.ndarray, np.ndarray]:
    """One self-blended image: (uint8 H×W×3 blend, float32 H×W mask).

    Pixels where the mask is 0 are the untouched image's, exactly (when `swap` the altered
    copy is the target, so the whole image changes and the mask marks the inner face that
    keeps the original's statistics; the tests and the temporal fakes use swap=False).
    """
    shape = image.shape[:2]
    mask = blend_mask(landmarks, shape, params)
    altered = alter(image, params)
    source, target = (image, altered) if params.swap else (altered, image)
    m = mask[..., None]
    blended = source.astype(np.float32) * m + target.astype(np.float32) * (1.0 - m)
    out = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    out[mask == 0] = target[mask == 0]
    return out, mask


def _gauss(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def _elastic(mask: np.ndarray, alpha: float, sigma: float, seed: int) -> np.ndarray:
    """Elastic deformation (Simard et al. 2003): a smoothed random displacement field."""
    if alpha <= 0:
        return mask
    h, w = mask.shape
    rng = np.random.default_rng(seed)
    # A coarse field upsampled is as smooth as a blurred fine one, and much cheaper.
    step = max(2, int(sigma))
    gh, gw = h // step + 2, w // step + 2
    dx = cv2.resize(rng.uniform(-1, 1, (gh, gw)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC) * alpha
    dy = cv2.resize(rng.uniform(-1, 1, (gh, gw)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC) * alpha
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


# --------------------------------------------------------------------------- quality augmentation

@dataclass(frozen=True)
class QualityParams:
    """One draw of the label-agnostic image-quality augmentation (`sample_quality`).

    Applied after blending, alike to reals and fakes (SBI paper's recipe), so that image
    quality (compression, resolution, blur, exposure, sensor noise) carries no information
    about the label: the only consistent difference between the classes is the blend.
    Each field's neutral value means "not applied".
    """

    brightness: float = 0.0  # added, [0, 255] units
    contrast: float = 1.0  # gain about the mean
    gamma: float = 1.0  # out = 255 * (in / 255) ** gamma
    downscale: float = 1.0  # resize to this fraction and back up (< 1: lost resolution)
    blur_sigma: float = 0.0  # Gaussian blur, pixels
    noise_sigma: float = 0.0  # additive Gaussian noise, [0, 255] units
    noise_seed: int = 0
    jpeg_quality: int = 0  # 0: no re-compression, else the JPEG quality (30-95)
    h264_crf: int = 0  # 0: none, else an H.264 intra round trip at this CRF (23-40)
    channel_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # colour cast, per RGB channel
    # The order of footage re-encoded small and enlarged later (a whole frame downscaled and
    # re-encoded, then cut and resized by the engine): compress at the downscaled size, so
    # the blocks are enlarged with the face, instead of compressing the enlarged image.
    compress_small: bool = False
    mpeg4_qscale: int = 0  # 0: none, else an MPEG-4 Part 2 round trip at this qscale (2-31)
    second_crf: int = 0  # 0: none, else a second H.264 pass at this CRF (double compression)


# Probabilities and ranges, decided a priori (not tuned on any test data).
# Re-compression is either H.264 (what investigators receive: re-encoded video) or JPEG,
# never both; "color" covers exposure, gamma and a per-channel colour cast.
QUALITY_PROBS = {"color": 0.5, "downscale": 0.3, "blur": 0.2, "noise": 0.2, "jpeg": 0.25,
                 "h264": 0.45, "compress_small": 0.0, "heavy": 0.0, "mpeg4": 0.0,
                 "double": 0.0}
# Steps added after 0.8.0 (whole-frame compression as investigators receive it): each draws
# its random numbers only when one of them is enabled, so a recipe without them sees the
# very images it saw before they existed. "heavy" draws the H.264 CRF from HEAVY_CRF instead,
# "mpeg4" replaces an H.264 re-encoding by MPEG-4 Part 2, "double" adds a second H.264 pass,
# "compress_small" compresses a downscaled image before enlarging it.
FRAME_STEPS = ("compress_small", "heavy", "mpeg4", "double")
HEAVY_CRF = (35, 45)
MPEG4_QSCALE = (4, 20)
QUALITY_RANGES = {"brightness": (-20.0, 20.0), "contrast": (0.8, 1.2), "gamma": (0.75, 1.35),
                  "downscale": (0.4, 1.0), "blur_sigma": (0.3, 1.2), "noise_sigma": (1.0, 6.0),
                  "jpeg_quality": (30, 95), "h264_crf": (23, 40), "channel_gain": (0.92, 1.08)}


def quality_probs(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """QUALITY_PROBS with some probabilities replaced (a recipe's setting, e.g. more
    re-encoding); an unknown name or a share outside [0, 1] is a ValueError."""
    probs = dict(QUALITY_PROBS)
    for key, value in (overrides or {}).items():
        if key not in probs:
            raise ValueError(f"unknown quality augmentation {key!r}: one of "
                             + ", ".join(QUALITY_PROBS))
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"quality augmentation {key}: probability {value} not in [0, 1]")
        probs[key] = float(value)
    if probs["h264"] + probs["jpeg"] > 1.0:
        raise ValueError(f"h264 ({probs['h264']}) + jpeg ({probs['jpeg']}) exceed 1: an image "
                         "is re-compressed one way or the other, never both")
    return probs


def sample_quality(rng: np.random.Generator, probs: Mapping[str, float] | None = None
                   ) -> QualityParams:
    """Random quality-augmentation parameters. Takes no label: reals and fakes draw from one
    and the same distribution. A fixed number of values is drawn whatever is applied, so the
    generator's state afterwards does not depend on the outcome. `probs`: each step's
    probability (default QUALITY_PROBS; see `quality_probs`)."""
    r = QUALITY_RANGES
    p = QUALITY_PROBS if probs is None else probs
    coin = rng.random(5)
    u = rng.random(8)
    noise_seed = int(rng.integers(2**31))
    gains = rng.random(3)

    def lerp(x: float, lo_hi: tuple) -> float:
        return float(lo_hi[0] + x * (lo_hi[1] - lo_hi[0]))

    color = coin[0] < p["color"]
    h264 = coin[4] < p["h264"]
    jpeg = not h264 and coin[4] < p["h264"] + p["jpeg"]
    frame = {}
    if any(p.get(step, 0.0) > 0 for step in FRAME_STEPS):
        frame = _frame_steps(rng.random(5), p, h264, lerp)
    crf = round(lerp(u[7], r["h264_crf"])) if h264 else 0
    if frame.get("heavy") and h264:
        crf = round(lerp(u[7], HEAVY_CRF))
    if frame.get("mpeg4_qscale") and h264:
        crf = 0
    return QualityParams(
        brightness=lerp(u[0], r["brightness"]) if color else 0.0,
        contrast=lerp(u[1], r["contrast"]) if color else 1.0,
        gamma=float(np.exp(lerp(u[2], tuple(np.log(r["gamma"]))))) if color else 1.0,
        downscale=lerp(u[3], r["downscale"]) if coin[1] < p["downscale"] else 1.0,
        blur_sigma=lerp(u[4], r["blur_sigma"]) if coin[2] < p["blur"] else 0.0,
        noise_sigma=lerp(u[5], r["noise_sigma"]) if coin[3] < p["noise"] else 0.0,
        noise_seed=noise_seed,
        jpeg_quality=round(lerp(u[6], r["jpeg_quality"])) if jpeg else 0,
        h264_crf=crf,
        channel_gain=tuple(lerp(g, r["channel_gain"]) for g in gains) if color
        else (1.0, 1.0, 1.0),
        compress_small=bool(frame.get("compress_small", False)),
        mpeg4_qscale=int(frame.get("mpeg4_qscale", 0)) if h264 else 0,
        second_crf=int(frame.get("second_crf", 0)) if h264 and not frame.get("mpeg4_qscale")
        else 0,
    )


def _frame_steps(coin: np.ndarray, p: Mapping[str, float], h264: bool, lerp) -> dict:
    """The whole-frame compression steps from five draws (see FRAME_STEPS)."""
    out: dict = {"compress_small": bool(coin[0] < p.get("compress_small", 0.0)),
                 "heavy": bool(coin[1] < p.get("heavy", 0.0))}
    if h264 and coin[2] < p.get("mpeg4", 0.0):
        out["mpeg4_qscale"] = round(lerp(coin[4], MPEG4_QSCALE))
    if h264 and coin[3] < p.get("double", 0.0):
        out["second_crf"] = round(lerp(coin[4], QUALITY_RANGES["h264_crf"]))
    return out


def apply_quality(image: np.ndarray, params: QualityParams) -> np.ndarray:
    """Degrade a uint8 RGB image: exposure and colour jitter → downscale-upscale → blur →
    noise → JPEG or H.264 (roughly the order a camera and an encoder apply them).
    Deterministic given `params`."""
    out = np.ascontiguousarray(image)
    gain = np.asarray(params.channel_gain, np.float32)
    if params.brightness or params.contrast != 1.0 or params.gamma != 1.0 or (gain != 1).any():
        img = out.astype(np.float32) * gain
        mean = img.mean(axis=(0, 1), keepdims=True)
        img = np.clip((img - mean) * params.contrast + mean + params.brightness, 0, 255)
        img = 255.0 * (img / 255.0) ** params.gamma
        out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    h, w = out.shape[:2]
    if params.downscale < 1.0:
        sw, sh = max(8, round(w * params.downscale)), max(8, round(h * params.downscale))
        small = cv2.resize(out, (sw, sh), interpolation=cv2.INTER_AREA)
        if params.compress_small:
            small = _compress(small, params)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if params.blur_sigma > 0:
        out = _gauss(out, params.blur_sigma)
    if params.noise_sigma > 0:
        noise = np.random.default_rng(params.noise_seed).normal(0, params.noise_sigma,
                                                                out.shape)
        out = np.clip(np.round(out.astype(np.float32) + noise), 0, 255).astype(np.uint8)
    if not (params.compress_small and params.downscale < 1.0):
        out = _compress(out, params)
    return np.ascontiguousarray(out)


def _compress(image: np.ndarray, params: QualityParams) -> np.ndarray:
    """The re-compression steps of `params`: JPEG, or H.264 (then a second H.264 pass), or
    MPEG-4 Part 2."""
    out = image
    if params.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, int(params.jpeg_quality)])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    if params.h264_crf:
        out = h264_round_trip(out, params.h264_crf)
    if params.second_crf:
        out = h264_round_trip(out, params.second_crf)
    if params.mpeg4_qscale:
        out = video_round_trip(out, "mpeg4", {"qscale": str(int(params.mpeg4_qscale))},
                               "avi")
    return np.ascontiguousarray(out)


def h264_round_trip(image: np.ndarray, crf: int) -> np.ndarray:
    """Encode one RGB image as an H.264 intra frame (libx264, yuv420p, x264's default
    preset) at `crf` and decode it again: the blocking, ringing and chroma loss of a
    re-encoded video. Odd sizes are cropped to even for 4:2:0 and padded back."""
    return video_round_trip(image, "libx264", {"crf": str(int(crf)), "preset": "veryfast"},
                            "h264")


def video_round_trip(image: np.ndarray, codec: str, options: dict[str, str], muxer: str
                     ) -> np.ndarray:
    """One RGB image through a video encoder (`codec` with `options`, yuv420p, in an
    in-memory `muxer` container) and back."""
    import io

    import av

    h, w = image.shape[:2]
    even = np.ascontiguousarray(image[: h - h % 2, : w - w % 2])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = even.shape[1], even.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = options
        stream.thread_count = 1
        for packet in stream.encode(av.VideoFrame.from_ndarray(even, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buffer.seek(0)
    with av.open(buffer, "r", format=muxer) as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    if decoded.shape[:2] != (h, w):
        decoded = cv2.copyMakeBorder(decoded, 0, h - decoded.shape[0], 0, w - decoded.shape[1],
                                     cv2.BORDER_REPLICATE)
    return decoded
