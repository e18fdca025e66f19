"""Decide, for a needle picture, which library pictures it is and how closely.

Two stages. Candidates: a vectorised Hamming search over the library's dHash and pHash held
in NumPy arrays; a needle is a candidate pair with any library picture within
`max_hash_distance` on either hash. Verification: the 16x16 thumbnails and 8x8 chroma decide
the tier, because hashes alone call every flat, dark or gradient picture the same, and call
neighbouring shots or the other eye of a stereo pair close.

Precision comes first: calling a new photo "already imported" may make someone wipe the only
copy. So:
- low-information pictures (flat, gradients: little left after removing a plane from the
  thumbnail) can only be `identical` (same bytes), never `same` or `edited`;
- `same` needs the thumbnails to agree in structure, brightness, contrast, colour and aspect
  within what re-encoding and resizing change (measured: corr >= 0.995, |mean| < 0.5,
  contrast within 1%, chroma within 1 level on the public corpus);
- `edited` allows one kind of change at a time: a global tone change (grayscale,
  brightness/contrast: the structure stays and colour is only scaled), a local change (a
  caption), or a small crop (found by aligning the thumbnails, its tone compared with the crop
  window). A colour that is not the other picture's scaled is never an edit of it. Each rule
  holds either way round: the card may hold an edit of a library original, or (the usual case)
  the library an export of the card's original. These rules are loose enough for camera-size
  crops and +30% brightness exports; what keeps them from taking another shot for an edit is
  the confirmation.

What the thumbnails say is a claim: at 16x16 the next frame of a burst is the same picture.
Every `same` and `edited` match of a photo or raw file stands only once its check (check_for)
has confirmed it on full-resolution pixels and found no capture metadata that makes the two
files two shots (confirm.py, shotmeta.py, run in the decoder processes); it stands at the lower
of the two tiers (verdict).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import itertools
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hashwatchd.model import Fingerprint, Kind, Match, Outcome, Problem, Status, Tier
from hashwatchd.pathmap import find, hash_index
from hashwatchd.records import FP_DTYPE, to_fingerprint


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds of verification; defaults measured on the public corpus (see README)."""

    max_hash_distance: int = 22
    min_information: float = 2.0
    same_corr: float = 0.985
    same_mean: float = 4.0
    same_contrast: float = 0.07
    same_chroma: float = 4.0
    same_aspect: float = 0.02
    colour_scale: float = 1.5  # an edit scales the library's chroma by k in [0, colour_scale]
    tone_corr: float = 0.96
    local_corr: float = 0.95
    local_mean: float = 6.0
    local_contrast: float = 0.1
    crop_corr: float = 0.96
    crop_gate: float = 0.45  # unaligned corr below this is no small crop (lowest seen on the corpus: 0.53)
    crop_chroma: float = 12.0
    crop_contrast: float = 0.2
    crop_max: float = 0.08
    max_candidates: int = 64
    raw_match_any: bool = False  # config raw_match: any; a rendering of a raw file counts as it
    video_frame_rms: float = 1.5
    video_frame_peak: float = 10.0


DEFAULT_POLICY = Policy()


@dataclass(slots=True)
class _Views:
    """Float views of one fingerprint, computed once per comparison."""

    thumb: np.ndarray
    chroma: np.ndarray
    info: float
    aspect: float


_YY, _XX = np.mgrid[0:16, 0:16]
_PLANE = np.stack([np.ones(256), _XX.ravel(), _YY.ravel()], axis=1)
_PLANE_PINV = np.linalg.pinv(_PLANE)


def information(fp: Fingerprint) -> float:
    """How much picture there is: std of the 16x16 thumbnail after removing its best-fit plane.

    Flat colours and linear gradients score ~0; the flattest real photos in the public corpus
    (a blue wallpaper with a small logo) score above 4.
    """
    t = np.frombuffer(fp.thumb, np.uint8).astype(np.float64)
    return float((t - _PLANE @ (_PLANE_PINV @ t)).std())


def _views(fp: Fingerprint) -> _Views:
    return _Views(
        thumb=np.frombuffer(fp.thumb, np.uint8).astype(np.float32).reshape(16, 16),
        chroma=np.frombuffer(fp.chroma, np.uint8).astype(np.float32).reshape(8, 8, 2) - 128.0,
        info=information(fp),
        aspect=float(np.log(fp.width / fp.height)),
    )


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = float(a.std()), float(b.std())
    if sa < 1e-6 or sb < 1e-6:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def classify(needle: Fingerprint, library: Fingerprint, policy: Policy = DEFAULT_POLICY) -> Tier | None:
    """The tier at which `needle` is `library`, or None when it is another picture."""
    return _classify(needle, _views(needle), library, policy)


def _classify(needle: Fingerprint, n: _Views, library: Fingerprint, policy: Policy) -> Tier | None:
    """classify() with the needle's views computed once for all its candidates.

    Equal digests are `identical` (a raw file's or a video's digest samples the file, so the
    engine proves that by reading both files whole before it stands). A video is only ever
    another video. A raw file whose library copy is a rendering of it (its camera JPEG, an
    export) is at most `edited`: the library holds a picture of the shot, not the raw data,
    unless `raw_match_any` says a rendering is enough.
    """
    if needle.digest == library.digest:
        return Tier.IDENTICAL
    if (needle.kind is Kind.VIDEO) != (library.kind is Kind.VIDEO):
        return None
    if needle.kind is Kind.VIDEO:
        return _classify_video(needle, n, library, policy)
    tier = _classify_picture(n, _views(library), policy)
    if tier is Tier.SAME and needle.kind is Kind.RAW and library.kind is not Kind.RAW and not policy.raw_match_any:
        return Tier.EDITED
    return tier


def _classify_video(needle: Fingerprint, n: _Views, library: Fingerprint, policy: Policy) -> Tier | None:
    """`same` for the same recording in another container, with other metadata or re-encoded:
    durations within one frame, and every sampled frame the same picture, held to a tighter
    residual than a photo (four frames of a tripod scene say less than a photo: a subject that
    moved 2% of the frame passes the picture rules). Frames that are flat in both (a fade) need
    only the same brightness, but at least half the frames must say something."""
    if len(needle.frames) != len(library.frames):
        return None
    slack = max(needle.frame_ms, library.frame_ms, 1) + 10
    if abs(needle.duration_ms - library.duration_ms) > slack:
        return None
    pairs = list(zip((needle, *needle.frames), (library, *library.frames), strict=True))
    informative = 0
    for k, (a, b) in enumerate(pairs):
        va, vb = (n if k == 0 else _views(a)), _views(b)
        if va.info < policy.min_information and vb.info < policy.min_information:
            if abs(float(va.thumb.mean() - vb.thumb.mean())) > policy.same_mean:
                return None
            continue
        informative += 1
        if _classify_picture(va, vb, policy) is not Tier.SAME:
            return None
        rms, peak = _residual(va.thumb, vb.thumb)
        if rms > policy.video_frame_rms or peak > policy.video_frame_peak:
            return None
    return Tier.SAME if 2 * informative >= len(pairs) else None


def _residual(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """RMS and peak of b - (g * a + o) over two thumbnails, g and o fitted by least squares (a
    tone or range change is linear; a subject that moved is not)."""
    x, y = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    r = y - design @ coef
    return float(np.sqrt((r * r).mean())), float(np.abs(r).max())


def _classify_picture(n: _Views, h: _Views, policy: Policy) -> Tier | None:
    """The tier of two pictures from their thumbnails and chroma (see the module docstring)."""
    if n.info < policy.min_information or h.info < policy.min_information:
        return None
    corr = _corr(n.thumb, h.thumb)
    mean = float(n.thumb.mean() - h.thumb.mean())
    contrast = float(n.thumb.std() / max(float(h.thumb.std()), 1e-6))
    chroma = float(np.abs(n.chroma - h.chroma).mean())
    same_shape = abs(n.aspect - h.aspect) <= policy.same_aspect
    if (
        same_shape
        and corr >= policy.same_corr
        and abs(mean) <= policy.same_mean
        and abs(contrast - 1.0) <= policy.same_contrast
        and chroma <= policy.same_chroma
    ):
        return Tier.SAME
    if not _either_scaled(n.chroma, h.chroma, 2 * policy.same_chroma, policy.colour_scale):
        return None  # a colour neither picture has cannot come from editing the other
    if (
        same_shape
        and corr >= policy.tone_corr
        and _either_scaled(n.chroma, h.chroma, policy.same_chroma, policy.colour_scale)
    ):
        return Tier.EDITED
    close_tone = (
        abs(mean) <= policy.local_mean
        and abs(contrast - 1.0) <= policy.local_contrast
        and chroma <= 2 * policy.same_chroma
    )
    if close_tone and same_shape and corr >= policy.local_corr:
        return Tier.EDITED
    if corr >= policy.crop_gate and chroma <= policy.crop_chroma:
        for cut, whole in ((n, h), (h, n)):  # the card's picture cropped, or the library's
            crop = _best_crop(cut, whole, policy)
            if (
                crop.corr >= policy.crop_corr
                and abs(crop.mean) <= policy.local_mean
                and abs(crop.contrast - 1.0) <= policy.crop_contrast
            ):
                return Tier.EDITED
    return None


def _scaled(edit: np.ndarray, original: np.ndarray, tolerance: float, most: float, least: float | None = None) -> bool:
    """Whether the edit's chroma is the original's scaled by some k in [0, most], and, if
    `least` is given, by no less than that (the best-fitting k, not a clamped one: a pale
    picture is close to any k).

    That is what grayscale conversion (k=0), a contrast cut and a brightness or saturation boost
    do to colour (Lab a* and b* grow with lightness: a brighter export has more of the same
    colour); a hue change or a new colour is not.
    """
    denom = float((original * original).sum())
    k = float((edit * original).sum()) / denom if denom > 0 else 0.0
    if least is not None and k < least:
        return False
    k = min(max(k, 0.0), most)
    return float(np.abs(edit - k * original).mean()) <= tolerance


def _either_scaled(needle: np.ndarray, library: np.ndarray, tolerance: float, most: float) -> bool:
    """Whether either picture's colour is the other's scaled: an edit may be on the card (of a
    library original) or in the library (an export of the card's original). Not a gray library
    picture of a coloured card picture, though: that is also what the same pattern in other
    colours looks like, so a black-and-white export in the library is left `missing`."""
    return _scaled(needle, library, tolerance, most) or _scaled(library, needle, tolerance, most, 1.0 / most)


_CROPS = (0.0, 0.02, 0.04, 0.06, 0.08)


def _gaussian(sigma: float, size: int) -> np.ndarray:
    k = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    return k / k.sum()


def _blur(thumb: np.ndarray) -> np.ndarray:
    """Gaussian blur, sigma 0.8 px, 7 taps, mirrored border (what OpenCV's GaussianBlur does)."""
    padded = np.pad(thumb.astype(np.float64), 3, mode="reflect")
    rows = np.tensordot(_BLUR, np.stack([padded[:, i : i + 16] for i in range(len(_BLUR))]), axes=1)
    return np.tensordot(_BLUR, np.stack([rows[i : i + 16, :] for i in range(len(_BLUR))]), axes=1)


def _window_matrices() -> np.ndarray:
    """For every pair of edge cuts (a, b) along one axis, the 16x16 matrix that resamples a row
    of 16 pixels to the window [a, 1 - b] of it by linear interpolation, edges repeated; the
    pair (_CROPS[i], _CROPS[j]) at index i * len(_CROPS) + j. Resampling is separable, so a
    window of a thumbnail is Wy @ t @ Wx.T."""
    out = np.zeros((len(_CROPS) ** 2, 16, 16))
    grid = np.arange(16, dtype=np.float64)
    for k, (a, b) in enumerate(itertools.product(_CROPS, repeat=2)):
        scale = 1.0 - a - b
        src = scale * grid + a * 16 + 0.5 * scale - 0.5  # pixel centres of the window
        low = np.floor(src).astype(int)
        frac = src - low
        np.add.at(out[k], (np.arange(16), np.clip(low, 0, 15)), 1.0 - frac)
        np.add.at(out[k], (np.arange(16), np.clip(low + 1, 0, 15)), frac)
    return out


_BLUR = _gaussian(0.8, 7)
_WINDOWS = _window_matrices()
_SCALES = np.array([1.0 - a - b for a, b in itertools.product(_CROPS, repeat=2)])
_LIMITS = np.array([max(a, b) for a, b in itertools.product(_CROPS, repeat=2)])


@dataclass(frozen=True, slots=True)
class _Crop:
    """The needle against its best crop window of the library picture: their correlation, the
    difference of their means and the ratio of their contrasts."""

    corr: float
    mean: float
    contrast: float


def _best_crop(needle: _Views, library: _Views, policy: Policy) -> _Crop:
    """The needle against the crop of the library (each edge cut 0..crop_max) whose shape is the
    needle's shape (a crop must explain the aspect ratio it produced) and that correlates best.

    Tone is compared with that window, not the whole picture: the borders a 5-8% crop drops
    move the mean by up to 10 levels and the contrast by up to 16% on camera photos. Both
    thumbnails are blurred first (sigma 0.8 px): the window is resampled from a 16x16
    thumbnail, and the blur makes that comparable to the needle's own thumbnail (which still
    leaves the window up to 16% less contrasty, hence crop_contrast).

    NumPy only, all windows at once: the daemon judges pairs and must not load OpenCV for it.
    """
    n = _blur(needle.thumb)
    lib = _blur(library.thumb)
    allowed = policy.crop_max + 1e-9 >= _LIMITS
    # x pairs along the first axis, y pairs along the second: the order of itertools.product
    # over (x0, x1, y0, y1), so that ties go to the same window as a loop would pick
    shape_ok = (
        np.abs(library.aspect + np.log(_SCALES[:, None] / _SCALES[None, :]) - needle.aspect) <= policy.same_aspect
    )
    shape_ok &= allowed[:, None] & allowed[None, :]
    shape_ok[0, 0] = False  # no cut at all is not a crop
    if not shape_ok.any():
        return _Crop(-1.0, 0.0, 1.0)
    across = lib @ _WINDOWS.transpose(0, 2, 1)  # [x pair, row, column]
    views = _WINDOWS[None] @ across[:, None]  # [x pair, y pair, row, column]
    flat = views.reshape(len(_SCALES), len(_SCALES), 256)
    vm = flat.mean(axis=2)
    vs = flat.std(axis=2)
    ns = float(n.std())
    centred = n.ravel() - n.mean()
    cov = ((flat - vm[..., None]) * centred).mean(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where((vs < 1e-6) | (ns < 1e-6), 0.0, cov / (vs * ns))
    corr = np.where(shape_ok, corr, -np.inf)
    x, y = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return _Crop(float(corr[x, y]), float(n.mean() - vm[x, y]), float(ns / max(float(vs[x, y]), 1e-6)))


def hamming(values: np.ndarray, query: int) -> np.ndarray:
    """Hamming distances between a uint64 array and one 64-bit value (vectorised popcount)."""
    return np.bitwise_count(values ^ np.uint64(query)).astype(np.uint8)


#: Queries searched together, and pairs per block: a block's temporaries stay in cache, and the
#: per-call cost of NumPy is paid once for many pairs (measured: 64 x 4096 is on the plateau).
_QUERY_BATCH = 64
_BLOCK_PAIRS = 64 * 4096
_VERIFY_BATCH = 256  # needles whose candidate pairs are gated together (~10k pairs, ~10 MB)


def nearest(
    dhash: np.ndarray,
    phash: np.ndarray,
    alive: np.ndarray,
    queries: np.ndarray,
    *,
    radius: int,
    cap: int,
) -> list[np.ndarray]:
    """For each query (rows of uint64 dHash, pHash), the live indices within `radius` on
    either hash: nearest first, equal distances in index order, at most `cap`.

    A linear scan, because the radius that crops and edits need (22 of 64 bits) is too wide
    for any exact index: 0.7% of unrelated 64-bit hashes lie that close, so a bucketed search
    would visit most buckets anyway. The scan runs over blocks of queries x library entries
    and keeps, per query, the distance of its cap-th nearest so far: once a query has `cap`
    candidates, later entries only count if strictly nearer, so the hits stay few however
    many library pictures share a low-information hash.
    """
    out: list[np.ndarray] = []
    for start in range(0, len(queries), _QUERY_BATCH):
        batch = queries[start : start + _QUERY_BATCH]
        out.extend(_nearest_batch(dhash, phash, alive, batch, radius=radius, cap=cap))
    return out


def _nearest_batch(
    dhash: np.ndarray, phash: np.ndarray, alive: np.ndarray, queries: np.ndarray, *, radius: int, cap: int
) -> list[np.ndarray]:
    rows = len(queries)
    bound = np.full((rows, 1), radius + 1, np.uint8)  # exclusive: a hit must be nearer than this
    qd, qp = queries[:, :1], queries[:, 1:]
    width = max(1024, _BLOCK_PAIRS // rows)
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    count = 0
    for start in range(0, len(dhash), width):
        dist = np.bitwise_count(dhash[start : start + width] ^ qd)
        np.minimum(dist, np.bitwise_count(phash[start : start + width] ^ qp), out=dist)
        flat = np.flatnonzero(dist < bound)
        if not len(flat):
            continue
        r, c = np.divmod(flat, dist.shape[1])
        live = alive[c + start]
        r, c = r[live], c[live]
        held.append((r, c + start, dist[r, c]))
        count += len(r)
        if count > 4 * cap * rows:
            held = [_keep_nearest(held, bound, cap)]
            count = len(held[0][0])
    if not held:
        return [np.zeros(0, np.int64) for _ in range(rows)]
    r, c, _ = _keep_nearest(held, bound, cap)
    return np.split(c, np.searchsorted(r, np.arange(1, rows)))


def _keep_nearest(
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray]], bound: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trim the hits to each row's `cap` nearest, sorted by row, distance, index; tighten the
    bound of every row that is full to its cap-th distance."""
    r, c, d = (np.concatenate(column) for column in zip(*held, strict=True))
    order = np.lexsort((c, d, r))
    r, c, d = r[order], c[order], d[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r)
    full = rank == cap - 1
    bound[r[full], 0] = d[full]
    keep = rank < cap
    return r[keep], c[keep], d[keep]


class Records(Protocol):
    """Where a loaded library reads the fingerprint records it does not hold (the index)."""

    def read(self, paths: Sequence[bytes], /) -> np.ndarray:
        """The records (records.FP_DTYPE) of `paths`, in order; a path without one reads as zeros."""
        ...

    def fingerprint(self, path: bytes, /) -> Fingerprint | None:
        """The whole fingerprint of `path`, a video's frames included."""
        ...


class _NoRecords:
    def read(self, paths: Sequence[bytes], /) -> np.ndarray:
        return np.zeros(len(paths), FP_DTYPE)

    def fingerprint(self, path: bytes, /) -> Fingerprint | None:
        return None


class Library:
    """The library's fingerprints as NumPy arrays, for candidate search.

    Entries are appended one at a time (Fingerprint objects), or a whole index at once with
    `load`: then only the search keys are held, and a record is read from `records` (the index,
    for the daemon) and becomes a Fingerprint only when a candidate needs verifying. Removal
    marks a slot dead so indices stay valid until the next compaction.
    """

    def __init__(self) -> None:
        self.paths: list[bytes] = []
        # Path to slot: the slots present when the library was loaded or last compacted are found
        # through their paths' hashes, sorted (12 bytes a path, where a dict took 66 at 10^6
        # paths); slots added since are in a dict.
        self._index = hash_index([])
        self._index_due = False  # built at the first lookup: a one-off scan never needs it
        self._slot: dict[bytes, int] = {}
        self._live = 0
        self._records: Records = _NoRecords()  # of the live slots not in _held
        self._held: dict[int, Fingerprint] = {}
        self._dhash = np.zeros(0, np.uint64)
        self._phash = np.zeros(0, np.uint64)
        self._digest = np.zeros(0, np.uint64)  # first 8 bytes: equal digests are found by array search
        self._alive = np.zeros(0, bool)
        self._pending: list[tuple[int, int, int]] = []

    def __len__(self) -> int:
        return self._live

    def _find(self, path: bytes) -> int | None:
        """The live slot of `path`, or None."""
        slot = self._slot.get(path)
        if slot is not None:
            return slot
        if self._index_due:
            self._index = hash_index(self.paths)
            self._slot = {}
            self._index_due = False
        return next(find(self._index, self.paths, path), None)

    def load(self, paths: list[bytes], keys: np.ndarray, records: Records) -> None:
        """Fill an empty library from the index: `keys` (KEYS_DTYPE or FP_DTYPE, one per path)
        for candidate search, and `records` to read the whole records verification asks for."""
        if self.paths:
            raise ValueError("Library.load fills an empty library")
        self.paths = list(paths)
        self._index_due = True
        self._live = len(paths)
        self._records = records
        self._dhash = keys["dhash"].astype(np.uint64)
        self._phash = keys["phash"].astype(np.uint64)
        self._digest = np.ascontiguousarray(keys["digest"]).view("<u8")[::2].astype(np.uint64)
        self._alive = np.ones(len(paths), bool)

    def add(self, path: bytes, fp: Fingerprint) -> None:
        """Insert or replace the fingerprint of `path`."""
        self.remove(path)
        slot = len(self.paths)
        self.paths.append(path)
        self._held[slot] = fp
        self._slot[path] = slot
        self._live += 1
        self._pending.append((fp.dhash, fp.phash, int.from_bytes(fp.digest[:8], "little")))

    def remove(self, path: bytes) -> None:
        """Forget `path`; a no-op when it is not in the library."""
        slot = self._find(path)
        if slot is None:
            return
        self._slot.pop(path, None)
        self._live -= 1
        self._flush()
        self._alive[slot] = False
        self._held.pop(slot, None)
        self.paths[slot] = b""
        dead = len(self.paths) - self._live
        if dead > max(1024, self._live):
            self._compact()

    def _compact(self) -> None:
        """Drop dead slots (a daemon that sees files come and go for months must not grow)."""
        keep = np.flatnonzero(self._alive)
        new_slot = {int(old): new for new, old in enumerate(keep)}
        self.paths = [self.paths[s] for s in keep]
        self._held = {new_slot[old]: fp for old, fp in self._held.items()}
        self._dhash, self._phash, self._digest = self._dhash[keep], self._phash[keep], self._digest[keep]
        self._alive = np.ones(len(keep), bool)
        self._slot = {}  # every live slot moved: all are found through the index, built when due
        self._index_due = True

    def _flush(self) -> None:
        if not self._pending:
            return
        d, p, g = (np.array(column, np.uint64) for column in zip(*self._pending, strict=True))
        self._dhash = np.concatenate([self._dhash, d])
        self._phash = np.concatenate([self._phash, p])
        self._digest = np.concatenate([self._digest, g])
        self._alive = np.concatenate([self._alive, np.ones(len(d), bool)])
        self._pending.clear()

    def _fp(self, slot: int) -> Fingerprint | None:
        """The fingerprint of a slot; one loaded from the index is built for the asker and not
        kept (a million kept objects would be gigabytes)."""
        self._flush()
        if slot in self._held or not self._alive[slot]:
            return self._held.get(slot)
        record = self._records.read([self.paths[slot]])[0]
        if not record["width"]:
            return None  # gone from the index
        if record["kind"] == Kind.VIDEO:
            return self._records.fingerprint(self.paths[slot])  # with its frames, which the row lacks
        return to_fingerprint(record)

    def _gather(self, slots: list[int]) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
        """Thumbnails (k x 256), chroma (k x 128) and digests of live slots, without building
        a Fingerprint per slot: most candidates fail the first gate of verification."""
        thumbs = np.zeros((len(slots), 256), np.uint8)
        chroma = np.zeros((len(slots), 128), np.uint8)
        digests = [b""] * len(slots)
        alive = self._alive[slots].tolist()
        loaded = [i for i, s in enumerate(slots) if alive[i] and s not in self._held]
        if loaded:
            recs = self._records.read([self.paths[slots[i]] for i in loaded])
            thumbs[loaded] = np.frombuffer(recs["thumb"].tobytes(), np.uint8).reshape(len(loaded), 256)
            chroma[loaded] = np.frombuffer(recs["chroma"].tobytes(), np.uint8).reshape(len(loaded), 128)
            for i, digest in zip(loaded, recs["digest"].tolist(), strict=True):
                digests[i] = digest
        for i, slot in enumerate(slots):
            held = self._held.get(slot)
            if held is not None:
                thumbs[i] = np.frombuffer(held.thumb, np.uint8)
                chroma[i] = np.frombuffer(held.chroma, np.uint8)
                digests[i] = held.digest
        return thumbs, chroma, digests

    def candidates(self, fp: Fingerprint, policy: Policy) -> list[int]:
        """Slots worth verifying: same bytes, or either hash within the distance, nearest first.

        At most `max_candidates` by hash: a flat or dark needle can be near thousands of library
        pictures that share its hash, and verification must stay bounded.
        """
        return self.candidates_many([fp], policy)[0]

    def candidates_many(self, fps: Sequence[Fingerprint], policy: Policy) -> list[list[int]]:
        """candidates() for many needles in one scan of the library, on every core (NumPy
        releases the GIL in its loops, so threads share the scan)."""
        return self._search(fps, policy, cap=policy.max_candidates, scan=[True] * len(fps))

    def within(self, fps: Sequence[Fingerprint], policy: Policy) -> list[list[int]]:
        """Every live slot each fingerprint could match, with no cap: the same bytes, or either
        hash within the distance. The reverse search (a new library picture against the needles)
        must find every needle it can change, where the forward search needs only the nearest.
        A low-information fingerprint can only ever be `identical`: it gets its same-bytes slots
        alone, so a flat picture shared by thousands of entries stays cheap."""
        return self._search(fps, policy, cap=None, scan=[information(fp) >= policy.min_information for fp in fps])

    def _search(
        self, fps: Sequence[Fingerprint], policy: Policy, *, cap: int | None, scan: list[bool]
    ) -> list[list[int]]:
        """Same-bytes slots first, then the hash search (for the fingerprints `scan` marks),
        nearest first and at most `cap` of them (None: all)."""
        self._flush()
        if not len(self._dhash) or not fps:
            return [[] for _ in fps]
        digests = np.array([int.from_bytes(fp.digest[:8], "little") for fp in fps], np.uint64)
        searched = [fp for fp, wanted in zip(fps, scan, strict=True) if wanted]
        near = iter(self._nearest(searched, policy, len(self._dhash) if cap is None else cap))
        out = []
        for wanted, same in zip(scan, self._same_bytes(digests), strict=True):
            identical = [int(s) for s in same]
            seen = set(identical)
            slots = next(near) if wanted else ()
            out.append(identical + [int(s) for s in slots if int(s) not in seen])
        return out

    def _nearest(self, fps: Sequence[Fingerprint], policy: Policy, cap: int) -> list[np.ndarray]:
        if not fps:
            return []
        queries = np.array([(fp.dhash, fp.phash) for fp in fps], np.uint64).reshape(len(fps), 2)
        chunks = [(s, s + _QUERY_BATCH) for s in range(0, len(fps), _QUERY_BATCH)]
        workers = min(len(chunks), os.cpu_count() or 1)
        scan = functools.partial(
            nearest, self._dhash, self._phash, self._alive, radius=policy.max_hash_distance, cap=cap
        )
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(lambda span: scan(queries[span[0] : span[1]]), chunks))
            return [slots for part in parts for slots in part]
        return scan(queries)

    def _same_bytes(self, digests: np.ndarray) -> list[np.ndarray]:
        """Live slots whose digest prefix equals each query's, in slot order. A few queries
        compare against the column; many sort it once (a sort of the column costs about as much as
        a hundred comparisons with it)."""
        if len(digests) < 100:
            return [np.flatnonzero((self._digest == d) & self._alive) for d in digests]
        order = np.argsort(self._digest, kind="stable")
        ordered = self._digest[order]
        lo, hi = np.searchsorted(ordered, digests), np.searchsorted(ordered, digests, side="right")
        return [(found := order[a:b])[self._alive[found]] for a, b in zip(lo, hi, strict=True)]

    def fingerprint(self, path: bytes) -> Fingerprint | None:
        """The fingerprint held for `path`, or None."""
        slot = self._find(path)
        return None if slot is None else self._fp(slot)

    def match(self, fp: Fingerprint, policy: Policy = DEFAULT_POLICY) -> list[Match]:
        """Every library picture the needle is, best tier first, then nearest dHash."""
        return self.match_many([fp], policy)[0]

    def match_many(self, fps: Sequence[Fingerprint | None], policy: Policy = DEFAULT_POLICY) -> list[list[Match]]:
        """match() for many needles, with one candidate scan for all of them; no matches for
        a needle without a fingerprint (unreadable)."""
        readable = [fp for fp in fps if fp is not None]
        slots = self.candidates_many(readable, policy)
        verified: list[list[Match]] = []
        for start in range(0, len(readable), _VERIFY_BATCH):
            end = start + _VERIFY_BATCH
            verified.extend(self._verify(readable[start:end], slots[start:end], policy))
        found = iter(verified)
        return [next(found) if fp is not None else [] for fp in fps]

    def _verify(self, fps: Sequence[Fingerprint], slots: Sequence[list[int]], policy: Policy) -> list[list[Match]]:
        """The matches among each needle's candidate slots. Gates that every tier but
        `identical` needs are tested for all pairs at once, so that the per-pair rules (many small
        NumPy calls a pair) run only for the few pairs that pass them."""
        flat = [s for candidates in slots for s in candidates]
        if not flat:
            return [[] for _ in fps]
        owner = np.repeat(np.arange(len(fps)), [len(candidates) for candidates in slots])
        thumbs, chroma, digests = self._gather(flat)
        worth = _gates(
            np.frombuffer(b"".join(fp.thumb for fp in fps), np.uint8).reshape(len(fps), 256)[owner],
            np.frombuffer(b"".join(fp.chroma for fp in fps), np.uint8).reshape(len(fps), 128)[owner],
            thumbs,
            chroma,
            policy,
        )
        found: list[list[Match]] = [[] for _ in fps]
        views: dict[int, _Views] = {}
        for i, (k, slot) in enumerate(zip(owner.tolist(), flat, strict=True)):
            fp = fps[k]
            if not worth[i] and digests[i] != fp.digest:
                continue
            lib = self._fp(slot)
            if lib is None:
                continue
            if k not in views:
                views[k] = _views(fp)
            tier = _classify(fp, views[k], lib, policy)
            if tier is not None:
                found[k].append(Match(self.paths[slot], tier, bin(lib.dhash ^ fp.dhash).count("1")))
        for matches in found:
            matches.sort(key=lambda m: (-m.tier, m.distance, m.path))
        return found


def _gates(
    needle_thumbs: np.ndarray, needle_chroma: np.ndarray, thumbs: np.ndarray, chroma: np.ndarray, policy: Policy
) -> np.ndarray:
    """Which pairs (row i of the needle and library arrays, uint8) can be anything but
    identical: a thumbnail correlation of at least crop_gate; and below the correlation that a
    tone or local edit needs, where only a crop can still match, the chroma a crop keeps. The
    bounds are loosened slightly so that float rounding here never rejects a pair that
    _classify would accept."""
    a = needle_thumbs.astype(np.float32)
    b = thumbs.astype(np.float32)
    a -= a.mean(axis=1)[:, None]
    b -= b.mean(axis=1)[:, None]
    a_std, b_std = np.sqrt((a * a).mean(axis=1)), np.sqrt((b * b).mean(axis=1))
    corr = np.einsum("ij,ij->i", a, b) / (256 * a_std * b_std + 1e-6)
    crop_chroma = (
        np.abs(needle_chroma.astype(np.float32) - chroma.astype(np.float32)).mean(axis=1) <= policy.crop_chroma + 0.01
    )
    edit_corr = min(policy.local_corr, policy.tone_corr, policy.same_corr)
    return (corr >= policy.crop_gate - 0.001) & ((corr >= edit_corr - 0.001) | crop_chroma)


#: What the checks found, by (needle, library) path pair: for a pixel check the tier the
#: full-resolution confirmation supports (None: not that picture); for a byte check IDENTICAL
#: when the two files are the same bytes (None: they are not). A pair without an entry is a
#: check not made.
Checks = Mapping[tuple[bytes, bytes], Tier | None]


class Check(enum.Enum):
    """What a match must pass, beyond the fingerprints, before it stands."""

    PIXELS = "pixels"  # a `same` or `edited` photo or raw file: confirmed at full resolution (confirm.py)
    BYTES = "bytes"  # an `identical` raw file or video: the same bytes, both read whole


def check_for(tier: Tier, needle: Fingerprint) -> Check | None:
    """The check a match of `tier` needs before it stands, or None.

    Every match but `identical` is a claim about one shot that the 16x16 thumbnails cannot
    settle (another frame of a burst looks the same there): a photo's or a raw file's is
    confirmed on full-resolution pixels. A photo's `identical` is its SHA-256 and needs nothing;
    a raw file's or a video's digest samples the file, so both are read whole. A video's `same`
    has its own rule (every sampled frame, held to a tight residual) and no pixel check.
    """
    if tier is Tier.IDENTICAL:
        return Check.BYTES if needle.kind in (Kind.RAW, Kind.VIDEO) else None
    return None if needle.kind is Kind.VIDEO else Check.PIXELS


def verdict(
    path: bytes,
    fp: Fingerprint | None,
    problem: Problem | None,
    found: Sequence[Match],
    *,
    kind: Kind | None = None,
    checks: Checks | None = None,
) -> Outcome:
    """The outcome of a needle given its library matches (`Library.match`) and the checks made.

    A match that needs a check (check_for) stands at the lower of its thumbnail tier and the
    tier its check confirmed; it is dropped when the check says it is not that picture, or was
    not made: unconfirmed is neither same nor edited. `kind` is the needle's when it has no
    fingerprint.
    """
    if fp is None:
        return Outcome(
            path,
            Status.UNREADABLE,
            (),
            problem or Problem("unreadable", "no picture"),
            Kind.OTHER if kind is None else kind,
        )
    stands = []
    for m in found:
        if check_for(m.tier, fp) is None:
            stands.append(m)
            continue
        confirmed = (checks or {}).get((path, m.path))
        if confirmed is not None:
            stands.append(m if confirmed >= m.tier else dataclasses.replace(m, tier=confirmed))
    if not stands:
        return Outcome(path, Status.MISSING, kind=fp.kind)
    stands.sort(key=lambda m: (-m.tier, m.distance, m.path))
    return Outcome(path, Status.of(stands[0].tier), tuple(stands), kind=fp.kind)


def checks_needed(fp: Fingerprint | None, found: Sequence[Match]) -> list[tuple[Match, Check]]:
    """The matches of this needle that need a check before they stand, and which."""
    if fp is None:
        return []
    return [(m, check) for m in found if (check := check_for(m.tier, fp)) is not None]
