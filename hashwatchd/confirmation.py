"""What a full-resolution confirmation (confirm.py) is asked for and remembered by: its policy
(the thresholds, each with the measurement behind it), the size both files are decoded at, and
the key its result is cached under in the index.

Apart from confirm.py because its pixel work needs OpenCV: the engine, which runs in the daemon
and never decodes a picture, needs only these, and the daemon stays without OpenCV (its RSS
and its start-up; the decoder processes load it).
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

from hashwatchd.model import Fingerprint, Kind, Tier

#: The version of confirm.py's and shotmeta.py's rules, part of every cached result's key:
#: results of other rules are not read. Bump it with any change to a threshold, the statistic,
#: the decoding or what counts as another shot.
RULES = 3


@dataclass(frozen=True, slots=True)
class ConfirmPolicy:
    """Where and how strictly pictures are compared.

    side: the working grid's short side at most, in pixels. A subject of 0.5% of the frame still
      covers about 1000 pixels there; a larger grid separates bursts no better and makes the
      noise of re-encoding sharper.
    oversample: each file is decoded with at least this many times the working side where it has
      them (decode_side), so that a 12 or 24 MP camera JPEG decodes at 1/4 (not 1/8, whose
      unfiltered block averages alias differently in two differently stored copies).
    blur: Gaussian sigma on the working grid, for resampling kernels and JPEG noise.
    blocks: blocks per short side; the statistic is the mean |residual| over windows of 2x2
      blocks (1/16 of the short side), its maximum over the picture the `peak`.
    same_peak: the largest peak a `same` may have, in gray levels: 1.2x the largest measured on
      copies (thumbnails of fine texture at their own size), 1.3x below the faintest real burst.
    contrast_ref, same_peak_floor: same_peak holds for a picture whose gray spans contrast_ref
      levels or more (p99 - p1 on the working grid); below that it shrinks in proportion, to no
      less than same_peak_floor. A subject that moved leaves a residual in proportion to the
      scene's contrast, re-encoding noise does not shrink with it: a burst of a scene darkened to
      a fifth peaked at 1.2-4.4 (against 7.8-41 at full brightness), its copies at most 0.9.
    min_contrast: a picture whose gray spans fewer levels (a night sky, fog, a dark room) is no
      `same` of anything: its burst neighbours peaked at 0.7 where copies reach 0.55, too close
      to tell. Dark and flat pictures are low-information, as the thumbnails' rule has it.
    same_chroma: the same for Lab a* + b* after an offset fit: twice what 4:2:0 subsampling
      leaves on small copies; it catches a change of hue alone.
    local_area, local_parts: a local edit (a caption, a retouch) changes at most this fraction
      of the windows, in at most this many connected parts, and leaves the rest clean: measured
      captions and retouches change up to 1.8%; a burst neighbour changes far more, or in
      several places.
    edit_peak: what a tone edit may leave after its tone fit (clipping, rounding); measured up
      to 4.5 on camera brightness edits, 1.3 on grayscale and contrast.
    crop_inside: the share of the cropped picture that must lie inside the other once aligned
      (a pan shows what the other picture does not).
    """

    side: int = 384
    oversample: float = 1.9
    blur: float = 1.0
    blocks: int = 32
    same_peak: float = 4.5
    contrast_ref: float = 128.0
    same_peak_floor: float = 0.9
    min_contrast: float = 24.0
    same_chroma: float = 20.0
    local_area: float = 0.03
    local_parts: int = 1
    edit_peak: float = 6.0
    crop_inside: float = 0.97


DEFAULT = ConfirmPolicy()


def cache_key(needle: Fingerprint, library: Fingerprint, claim: Tier, decoders: bytes) -> bytes:
    """The key a confirmation's result is cached under in the index: the rules, the claim (a
    `same` claim is tried as `same` first, an `edited` one is not), what each file holds, and
    the decoders (workers.decoders(): their versions) that made the pixels compared, so that a
    command reading the index after an upgrade, before the daemon has restarted and dropped the
    old results (Store.set_decoders), does not take them for its own.

    A photo's content is its digest, the SHA-256 of the whole file. A raw file's digest covers
    only its size, head and tail, while the confirmation decodes its preview from the middle:
    two raw files alike there but for the middle (a copy damaged in its preview, a preview
    written again in place) would share a result. Its fingerprint, computed from that preview,
    is taken with the digest: it changes with any preview that a thumbnail can tell apart, and
    files that differ only below that are left to their sizes, heads and tails, which cameras
    fill with the shot's own metadata.
    """
    return (
        bytes([RULES, claim]) + _content(needle) + _content(library) + hashlib.blake2b(decoders, digest_size=4).digest()
    )


def _content(fp: Fingerprint) -> bytes:
    if fp.kind is not Kind.RAW:
        return fp.digest
    hashes = struct.pack("<QQII", fp.dhash, fp.phash, fp.width, fp.height)
    return hashlib.sha256(fp.digest + hashes + fp.thumb + fp.chroma).digest()[:16]


def decode_side(needle: tuple[int, int], library: tuple[int, int], policy: ConfirmPolicy = DEFAULT) -> int:
    """The short side to decode both files at (decode.decode's min_side) for pictures of these
    displayed (width, height): `oversample` times the working side."""
    return math.ceil(max(8, min(policy.side, *needle, *library)) * policy.oversample)
