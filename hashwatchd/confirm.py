"""Confirm on full-resolution pixels what the thumbnails claim: the same shot, or an edit of it.

Every tier but `identical` is a claim about one exposure. `same` says the needle is the library
picture merely re-encoded, resized, converted, turned by its EXIF tag or stripped of metadata;
`edited` says it is that picture changed in one way (its tone, one compact local change, a crop).
At 16x16 another moment of the same scene (a burst, a tripod series, a time-lapse) looks the
same, so each claim is checked where a small moving subject shows: both files decoded again,
brought onto one working grid (the library picture's shape, short side `side` or the smaller
picture's), blurred a little, tone fitted, and the residual judged *locally*, per window of 1/16
of the short side. A re-encode leaves faint noise everywhere; another shot leaves a structured
change somewhere, which a global measure (RMS, a percentile) would dilute into the whole picture.

What no pixel rule can do: tell two shots of a static scene apart when all that differs is
sensor noise (a tripod series without a subject that moved). Capture metadata does that where
both files carry it (shotmeta.py).

Pure functions of decoded pictures (decode.Picture: 8-bit BGR, display orientation, with the
orientation that was applied). The thresholds were measured on the public corpus and on held-out
camera-size sets (README, "Matching"); the margins are stated where each is defined.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hashwatchd.confirmation import DEFAULT, ConfirmPolicy
from hashwatchd.decode import Picture
from hashwatchd.model import Tier


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The tier the pixels support (None: another picture) and the figures behind it, from the
    explanation tried last: its peak and chroma peak, the fraction of windows above its clean
    bound, and how many connected parts they form."""

    tier: Tier | None
    reason: str
    peak: float
    chroma: float
    changed: float
    parts: int


def working_shape(needle: Picture, library: Picture, side: int) -> tuple[int, int]:
    """(h, w) both pictures are compared at: the library picture's aspect ratio, its short side
    `side` or the smaller picture's short side if less (upsampling adds no detail to compare)."""
    s = max(8, min(side, needle.width, needle.height, library.width, library.height))
    lh, lw = library.height, library.width
    return (s, max(1, round(lw * s / lh))) if lh <= lw else (max(1, round(lh * s / lw)), s)


#: Where a DCT-scaled decode's partial last pixel lands once the EXIF orientation is applied:
#: (at the left, at the top). libjpeg's 1/k output has ceil(W/k) pixels, the last one covering
#: W mod k source pixels: the stored picture's right column and bottom row, which a turn moves.
_PARTIAL_AT_START = {
    1: (False, False),
    2: (True, False),
    3: (True, True),
    4: (False, True),
    5: (False, False),
    6: (True, False),
    7: (True, True),
    8: (False, True),
}


def _dct_scale(decoded: int, full: int) -> int:
    """The DCT scale k (1, 2, 4, 8) that turned `full` pixels into `decoded`; 0 for none."""
    return next((k for k in (1, 2, 4, 8) if decoded == -(-full // k)), 0)


def to_grid(pic: Picture, shape: tuple[int, int], blur: float) -> np.ndarray:
    """The picture resampled onto the grid `shape` (h, w) spanning its whole displayed extent:
    float32 BGR in [0, 1], blurred by `blur` grid pixels.

    The geometry is exact: a 1/8 decode of a 4242-pixel side has 531 pixels for 530.25 pixels'
    worth of picture, and which edge the partial one lies on depends on the orientation. Resizing
    the decode as if it were the whole picture misaligns the far edge by up to 0.75 decoded
    pixels, which on sharp texture leaves a residual as large as a small moving subject's
    (copies turned by their tag reached 4.4 gray levels that way).
    """
    h, w = shape
    dh, dw = pic.bgr.shape[:2]
    x: np.ndarray = pic.bgr.astype(np.float32) * np.float32(1.0 / 255.0)
    kx, ky = _dct_scale(dw, pic.width), _dct_scale(dh, pic.height)
    at_left, at_top = _PARTIAL_AT_START.get(pic.orientation, (False, False))
    if kx and ky:
        pad_x = kx * dw - pic.width if at_left else 0
        pad_y = ky * dh - pic.height if at_top else 0
        sx, sy = pic.width / (kx * w), pic.height / (ky * h)
        ox = (0.5 * pic.width / w + pad_x) / kx - 0.5
        oy = (0.5 * pic.height / h + pad_y) / ky - 0.5
    else:  # not DCT-scaled (a HEIC thumbnail): the decode spans the picture proportionally
        sx, sy = dw / w, dh / h
        ox, oy = 0.5 * sx - 0.5, 0.5 * sy - 0.5
    s = max(sx, sy)
    if s > 1.0:  # anti-alias before the linear warp: a box of s pixels has a sigma of about 0.3 s
        x = cv2.GaussianBlur(x, (0, 0), 0.3 * (s * s - 1.0) ** 0.5)
    m = np.array([[sx, 0.0, ox], [0.0, sy, oy]], np.float32)
    x = cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(x, (0, 0), blur) if blur > 0 else x


def _gray(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) * np.float32(255.0)


def _linear_fit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a's tone fitted to b by a gain and an offset (least squares)."""
    sa = float(a.std())
    gain = float(((a - a.mean()) * (b - b.mean())).mean()) / (sa * sa) if sa > 1e-6 else 1.0
    return (a - a.mean()) * gain + b.mean()


def _curve(x: np.ndarray, y: np.ndarray, knots: int = 16) -> np.ndarray:
    """y predicted from x by a piecewise-linear curve (least squares): a tone curve, clipping
    included. Its knots lie at x's quantiles, where most pixels are, and evenly between x's
    extremes, so that a bend where few pixels lie (a channel made 30% brighter clips at 77% of
    its range, which a bright patch may be alone to reach) has knots near it too."""
    k = np.unique(
        np.concatenate(
            [
                np.percentile(x[::3], np.linspace(0, 100, knots + 1)),
                np.linspace(float(x.min()), float(x.max()), knots + 1),
            ]
        )
    )
    if len(k) < 2:
        return np.full_like(x, float(y.mean()))
    xs, ys = x.ravel()[::5].astype(np.float64), y.ravel()[::5].astype(np.float64)
    return np.interp(x, k, _hat_fit(xs, ys, k)).astype(np.float32)


def _hat_fit(x: np.ndarray, y: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The values at `knots` of the piecewise-linear curve through (x, y) with least squared
    error. Each x weighs on the two knots around it only, so the normal equations are a
    tridiagonal matrix summed with bincount, not a basis of len(x) x len(knots) (whose lstsq
    took 65 ms a call)."""
    n = len(knots)
    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, n - 2)
    t = (x - knots[j]) / (knots[j + 1] - knots[j])
    w0, w1 = 1.0 - t, t
    normal = np.diag(np.bincount(j, w0 * w0, n) + np.bincount(j + 1, w1 * w1, n))
    off = np.bincount(j, w0 * w1, n - 1)
    normal[np.arange(n - 1), np.arange(1, n)] = off
    normal[np.arange(1, n), np.arange(n - 1)] = off
    coef, *_ = np.linalg.lstsq(normal, np.bincount(j, w0 * y, n) + np.bincount(j + 1, w1 * y, n), rcond=None)
    return coef


def _tone_fits(edit: np.ndarray, original: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The edit's gray predicted from the original's colour by two models of a tone edit, as
    (name, prediction): `mix`, a linear mix of B, G, R plus an offset, then a curve (any
    grayscale conversion, contrast, gamma); `channels`, a curve per channel, then gray
    (brightness applied per channel, whose clipping shifts hue in the highlights)."""
    eg = _gray(edit)
    design = np.concatenate([original.reshape(-1, 3) * 255.0, np.ones((eg.size, 1), np.float32)], axis=1)
    coef, *_ = np.linalg.lstsq(design[::7], eg.reshape(-1)[::7], rcond=None)
    mix = (design @ coef).reshape(eg.shape).astype(np.float32)
    per = np.stack([_curve(original[:, :, c], edit[:, :, c]) for c in range(3)], axis=2)
    return [("mix", _curve(mix, eg)), ("channels", _gray(per))]


def _windows(residual: np.ndarray, blocks: int) -> np.ndarray:
    """Mean |residual| over windows of 2x2 blocks (a block is 1/blocks of the short side),
    stepping one block."""
    h, w = residual.shape
    bs = max(2, round(min(h, w) / blocks))
    gh, gw = max(1, h // bs), max(1, w // bs)
    m = cv2.resize(residual[: gh * bs, : gw * bs], (gw, gh), interpolation=cv2.INTER_AREA)
    if gh < 2 or gw < 2:
        return m
    return cv2.blur(m, (2, 2), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[: gh - 1, : gw - 1]


def _parts(mask: np.ndarray) -> int:
    """Connected parts of a window mask (8-connected after a 3x3 dilation: one caption's letters
    are one part)."""
    if not mask.any():
        return 0
    n, _ = cv2.connectedComponents(cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)), connectivity=8)
    return int(n) - 1


@dataclass(frozen=True, slots=True)
class _Judged:
    kind: str  # clean | local | changed
    peak: float
    chroma: float
    changed: float
    parts: int


def _judge(res: np.ndarray, chroma: np.ndarray | None, policy: ConfirmPolicy, clean_peak: float) -> _Judged:
    """`clean`: no window's mean |residual| above clean_peak, nor chroma above same_chroma.
    `local`: the windows above form at most local_parts connected parts covering at most
    local_area of the picture, and everything two windows away from them is clean.
    `changed`: anything else."""
    win = _windows(res, policy.blocks)
    cwin = _windows(chroma, policy.blocks) if chroma is not None else np.zeros(1, np.float32)
    peak, cpeak = float(win.max()), float(cwin.max())
    changed = win > clean_peak
    if cwin.shape == win.shape:
        changed |= cwin > policy.same_chroma
    frac, parts = float(changed.mean()), _parts(changed)
    if peak <= clean_peak and cpeak <= policy.same_chroma:
        return _Judged("clean", peak, cpeak, frac, parts)
    near = cv2.dilate(changed.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    rest_clean = not (win[~near] > clean_peak).any()
    local = 0 < parts <= policy.local_parts and frac <= policy.local_area and rest_clean
    return _Judged("local" if local else "changed", peak, cpeak, frac, parts)


@dataclass(frozen=True, slots=True)
class _Grids:
    """Both pictures on the working grid, float BGR."""

    needle: np.ndarray
    library: np.ndarray


def _grids(needle: Picture, library: Picture, policy: ConfirmPolicy) -> _Grids:
    shape = working_shape(needle, library, policy.side)
    return _Grids(to_grid(needle, shape, policy.blur), to_grid(library, shape, policy.blur))


def _same_residual(grids: _Grids) -> tuple[np.ndarray, np.ndarray]:
    """Gray and chroma |residual| after what re-encoding, resizing and converting change: a gain
    and an offset on gray, an offset on Lab a* and b*."""
    a, b = grids.needle, grids.library
    gb = _gray(b)
    gray = np.abs(_linear_fit(_gray(a), gb) - gb)
    la, lb = cv2.cvtColor(a, cv2.COLOR_BGR2Lab), cv2.cvtColor(b, cv2.COLOR_BGR2Lab)
    offset = np.subtract(cv2.mean(la), cv2.mean(lb)).astype(np.float32)
    d = la - lb
    return gray, np.abs(d[:, :, 1] - offset[1]) + np.abs(d[:, :, 2] - offset[2])


def _same_shape(needle: Picture, library: Picture) -> bool:
    return abs(math.log((needle.width / needle.height) / (library.width / library.height))) <= 0.02


def confirm_same(needle: Picture, library: Picture, policy: ConfirmPolicy = DEFAULT) -> Confirmation:
    """Whether a pair the thumbnails call `same` is the same shot (SAME), that shot with one
    compact local change (EDITED: a caption too small for 16x16), or another picture (None)."""
    return _confirm_same(_grids(needle, library, policy), policy)


def _confirm_same(grids: _Grids, policy: ConfirmPolicy) -> Confirmation:
    contrast = min(_contrast(grids.needle), _contrast(grids.library))
    if contrast < policy.min_contrast:
        return Confirmation(None, "same:low-contrast", math.inf, math.inf, 1.0, 0)
    peak = max(policy.same_peak_floor, policy.same_peak * min(1.0, contrast / policy.contrast_ref))
    j = _judge(*_same_residual(grids), policy, peak)
    tier = {"clean": Tier.SAME, "local": Tier.EDITED}.get(j.kind)
    return Confirmation(tier, f"same:{j.kind}", j.peak, j.chroma, j.changed, j.parts)


def _contrast(grid: np.ndarray) -> float:
    """The gray levels a picture spans on the working grid, p1 to p99 (a few specks aside)."""
    lo, hi = np.percentile(_gray(grid)[::2, ::2], (1, 99))
    return float(hi - lo)


def confirm_edited(needle: Picture, library: Picture, policy: ConfirmPolicy = DEFAULT) -> Confirmation:
    """Whether one of the pair is the other changed in one way (EDITED) or another picture:
    - tone: after either tone fit, no window above edit_peak;
    - local: after a gain/offset fit, the windows above same_peak are one compact part of at
      most local_area, the rest clean (confirm_same's test);
    - crop: the cropped one aligned inside the other (affine ECC from the best crop window)
      leaves no window above same_peak: aligned, a crop is as clean as a re-encode.
    Either way round: the library may hold an export of the card's original (brighter, cropped)
    or the card an edit of a library original. A tone edit is a function of the original (its
    clipped highlights cannot be undone), and a crop lies inside the original, so each is fitted
    from the original to the edit, whichever file that is.
    A moving subject fits no tone curve and no crop; it passes as a local edit only when it is
    one small compact change on an otherwise still scene, where capture metadata has to decide.
    """
    return _confirm_edited(needle, library, policy, None)


def _confirm_edited(needle: Picture, library: Picture, policy: ConfirmPolicy, grids: _Grids | None) -> Confirmation:
    """confirm_edited, with both pictures on the working grid when the caller has them."""
    last = Confirmation(None, "edited:none", math.inf, math.inf, 1.0, 0)
    if _same_shape(needle, library):
        grids = grids or _grids(needle, library, policy)
        for edit, original, way in ((grids.needle, grids.library, ""), (grids.library, grids.needle, "-in-library")):
            target = _gray(edit)
            for name, prediction in _tone_fits(edit, original):
                j = _judge(np.abs(prediction - target), None, policy, policy.edit_peak)
                if j.kind == "clean":
                    return Confirmation(Tier.EDITED, f"edited:tone-{name}{way}", j.peak, j.chroma, j.changed, j.parts)
                if j.peak < last.peak:
                    last = Confirmation(None, f"edited:tone-{name}{way}-failed", j.peak, j.chroma, j.changed, j.parts)
        j = _judge(*_same_residual(grids), policy, policy.same_peak)
        if j.kind == "local":
            return Confirmation(Tier.EDITED, "edited:local", j.peak, j.chroma, j.changed, j.parts)
    for cut, whole, way in ((needle, library, ""), (library, needle, "-in-library")):
        crop = _crop_residual(cut, whole, policy)
        if crop is None:
            continue
        j = _judge(crop, None, policy, policy.same_peak)
        if j.kind == "clean":
            return Confirmation(Tier.EDITED, f"edited:crop{way}", j.peak, j.chroma, j.changed, j.parts)
        last = Confirmation(None, f"edited:crop{way}-failed", j.peak, j.chroma, j.changed, j.parts)
    return last


#: Edge fractions the crop window search tries (each edge independently).
CROPS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10)


def crop_window(needle_gray: np.ndarray, library_gray: np.ndarray) -> tuple[float, float, float, float]:
    """The (left, right, top, bottom) edge fractions of the library picture that best explain
    the needle: the crop of CROPS whose shape is the needle's (within 2%) with the highest
    correlation at 32x32."""
    n = cv2.resize(needle_gray, (32, 32), interpolation=cv2.INTER_AREA)
    lh, lw = library_gray.shape
    aspect = math.log(needle_gray.shape[1] / needle_gray.shape[0])
    best, window = -2.0, (0.0, 0.0, 0.0, 0.0)
    for x0, x1, y0, y1 in itertools.product(CROPS, repeat=4):
        sx, sy = 1 - x0 - x1, 1 - y0 - y1
        if abs(math.log(lw * sx / (lh * sy)) - aspect) > 0.02:
            continue
        view = library_gray[int(y0 * lh) : round((1 - y1) * lh), int(x0 * lw) : round((1 - x1) * lw)]
        c = float(np.corrcoef(n.ravel(), cv2.resize(view, (32, 32), interpolation=cv2.INTER_AREA).ravel())[0, 1])
        if c > best:
            best, window = c, (x0, x1, y0, y1)
    return window


def _long_side(short: int, width: int, height: int) -> tuple[int, int]:
    """(h, w) of a grid with short side `short` and the shape of width x height."""
    if height <= width:
        return short, max(1, round(width * short / height))
    return max(1, round(height * short / width)), short


def _crop_residual(needle: Picture, library: Picture, policy: ConfirmPolicy) -> np.ndarray | None:
    """|residual| of `needle` (here: the cropped one of the pair) against `library` (the
    original) aligned onto it (affine ECC started from crop_window), after a gain/offset fit;
    None when ECC fails, the original lacks the pixels at that scale, or the cropped one reaches
    outside it."""
    shape = _long_side(max(8, min(policy.side, needle.width, needle.height)), needle.width, needle.height)
    n = _gray(to_grid(needle, shape, policy.blur))
    coarse = _long_side(64, library.width, library.height)
    x0, x1, y0, y1 = crop_window(n, _gray(to_grid(library, coarse, 1.0)))
    f = 0.5 * (shape[1] / ((1 - x0 - x1) * library.width) + shape[0] / ((1 - y0 - y1) * library.height))
    lshape = (max(1, round(library.height * f)), max(1, round(library.width * f)))
    if min(lshape) > min(library.bgr.shape[:2]) * 1.05:
        return None
    lib = _gray(to_grid(library, lshape, policy.blur))
    warp = np.array([[1, 0, x0 * lshape[1]], [0, 1, y0 * lshape[0]]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    ecc: Any = cv2.findTransformECC  # OpenCV's type stubs lack its last argument, gaussFiltSize
    try:
        _, warp = ecc(n, lib, warp, cv2.MOTION_AFFINE, criteria, None, 3)
    except cv2.error:
        return None
    view = cv2.warpAffine(
        lib,
        warp,
        (shape[1], shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    inside = view >= 0
    if inside.mean() < policy.crop_inside:
        return None
    res = np.zeros_like(n)
    res[inside] = np.abs(_linear_fit(n[inside], view[inside]) - view[inside])
    return res


def confirm(needle: Picture, library: Picture, claim: Tier, policy: ConfirmPolicy = DEFAULT) -> Confirmation:
    """The tier the pixels support for a pair the thumbnails call `claim` (SAME or EDITED), never
    above it. A `same` that fails is tried as an edit: at 16x16 a 4% crop, or a grayscale copy of
    a pale picture, can pass for the same picture."""
    if claim is Tier.EDITED:
        return confirm_edited(needle, library, policy)
    grids = _grids(needle, library, policy)
    same = _confirm_same(grids, policy)
    if same.tier is not None:
        return same
    edited = _confirm_edited(needle, library, policy, grids)
    return edited if edited.tier is not None else same
