"""What a file holds (a photo, a raw file, a video, or something hashwatchd cannot check) and its
fingerprint, from its content, read through a Source.

The read each kind costs is what it needs: a photo is read whole (a few MB, and its digest is the
file's SHA-256, so byte-identical photos are known at once); a raw file's embedded preview and a
video's sampled frames are read, and their digest covers the size and the first and last 64 KiB.
A raw or a video is read whole only when a library file looks byte-identical to it (equal sample
digests), to prove it (Source.full_digest, asked for by the engine).
"""

from __future__ import annotations

from collections.abc import Callable

from hashwatchd import decode, features, formats, raw, video
from hashwatchd.decode import Picture
from hashwatchd.errors import PhotoError
from hashwatchd.features import describe
from hashwatchd.model import Fingerprint, Kind
from hashwatchd.source import BytesSource, Source

#: Photos larger than this are refused before reading (no photo format needs more).
MAX_PHOTO_BYTES = 1 << 30

_HEAD = 4096


def kind_of(src: Source) -> Kind:
    """The kind of file `src` holds, by content. A TIFF is a raw file when its IFDs say so.
    Raises PhotoError ('empty', 'not-an-image', 'unsupported-format', or a raw's structure)."""
    head = src.read(0, _HEAD)
    if not head:
        raise PhotoError("empty", "the file is empty")
    found = raw.sniff_head(head)
    if found == "tiff?":
        return Kind.RAW if raw.inspect(src) is not None else Kind.PHOTO
    if found is not None:
        return Kind.RAW
    if video.sniff(head) is not None:
        return Kind.VIDEO
    formats.sniff(head)  # raises for what is no photo either
    return Kind.PHOTO


def loaded(src: Source, kind: Kind) -> Source:
    """`src` with a photo read whole into memory, so that its decoder and its metadata (shotmeta)
    share one read; a raw file or a video stays where it is, read by bounded reads."""
    return BytesSource(_whole(src)) if kind is Kind.PHOTO else src


def content_digest(src: Source, kind: Kind) -> bytes:
    """The digest a fingerprint of this file would carry: a photo's SHA-256, a raw file's or a
    video's sampled digest. What a later read of a path is compared with, to know it still holds
    what was indexed."""
    return features.digest(_whole(src)) if kind is Kind.PHOTO else src.sample_digest()


def picture(src: Source, kind: Kind, max_pixels: int, min_side: int) -> Picture:
    """The picture of a photo or a raw file (videos have frames; see `fingerprint`)."""
    if kind is Kind.RAW:
        return raw.decode(src, max_pixels, min_side)
    return decode.decode(_whole(src), max_pixels, min_side)


def _whole(src: Source) -> bytes:
    if src.size > MAX_PHOTO_BYTES:
        raise PhotoError("too-large", f"too large: {src.size:,} bytes")
    return src.read_all()


def fingerprint(
    src: Source,
    kind: Kind,
    max_pixels: int,
    min_side: int = decode.MIN_SIDE,
    picture_seen: Callable[[Picture], object] | None = None,
) -> Fingerprint:
    """The fingerprint of a file of `kind`. Raises PhotoError. `picture_seen` is given the picture
    it decoded (a raw file's preview, a video's first sampled frame): the visual report's preview."""
    seen = picture_seen or (lambda picture: None)
    if kind is Kind.PHOTO:
        data = _whole(src)
        seen(photo := decode.decode(data, max_pixels, min_side))
        return features.fingerprint(photo, data)
    if kind is Kind.RAW:
        seen(preview := raw.decode(src, max_pixels, min_side))
        return describe(preview, src.sample_digest(), Kind.RAW)
    sampled = video.sample(src)
    seen(Picture(sampled.frames[0], sampled.width, sampled.height, "video"))
    frames = [describe(Picture(f, sampled.width, sampled.height, "video"), b"", Kind.VIDEO) for f in sampled.frames]
    first = frames[0]
    return Fingerprint(
        first.dhash,
        first.phash,
        first.thumb,
        first.chroma,
        sampled.width,
        sampled.height,
        src.sample_digest(),
        Kind.VIDEO,
        duration_ms=round(sampled.duration * 1000),
        frame_ms=round(1000 / sampled.fps) if sampled.fps else 0,
        frames=tuple(frames[1:]),
    )
