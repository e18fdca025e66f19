"""Videos: know the container by content, read its duration and frame rate through PyAV from
hashwatchd's own file object, and sample a few frames at fixed fractions of the duration.

* A card's videos are 100 MB to 4 GB. Sampling reads the container's index and one group of
  pictures per sample, not the file; identity is left to digests (see media.py).
* PyAV takes a file object (OpenCV's VideoCapture wants a path, and hashwatchd never hands a
  decoder a path). FFmpeg picks demuxers by probing content, and some (HLS, concat, MOV with
  external data references) open *other* files by name: so the demuxer is chosen from our own
  sniff, and every nested open is refused.
* Each sample decodes from the keyframe before its instant up to the instant, so two encodings
  with different keyframe spacing sample the same instants (taking the keyframe alone is much
  cheaper, but a re-encoded copy then samples other moments).
* A copy cut short is caught from the container's own box lengths before FFmpeg sees it: FFmpeg
  calls a cut MP4 'invalid data', or decodes what is left of it as a shorter video.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashwatchd.errors import PhotoError
from hashwatchd.source import Source, SourceFile

#: Where frames are sampled, as fractions of the duration: away from fades at either end.
FRACTIONS = (0.125, 0.375, 0.625, 0.875)
#: Frames decoded at most per sample (from the keyframe before it): bounds the group walked.
MAX_DECODE_PER_SAMPLE = 300
#: Pixels a frame may have (8K is 33 MP): FFmpeg refuses a larger frame before allocating it.
MAX_FRAME_PIXELS = 40_000_000

_MOV_BRANDS = {b"qt  "}
_3GP_BRANDS = {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3ge7", b"3gg6", b"3g2a", b"3g2b", b"3g2c"}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"XAVC", b"MSNV", b"NDAS",
    b"mmp4", b"dash", b"f4v ", b"mp4v", b"hvc1", b"CAEP", b"MP4 ", b"nvr1",
}  # fmt: skip
#: Brands of stills (HEIF, AVIF) and raws (CR3): never a video.
_STILL_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"crx "}
#: QuickTime files from before ftyp (old cameras) start with one of these atoms.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_ISOBMFF = ("mp4", "mov", "3gp", "m4v")

#: Our container name -> the FFmpeg demuxer opened for it.
DEMUXER = {
    "mp4": "mov", "mov": "mov", "3gp": "mov", "m4v": "mov", "avi": "avi", "mpeg-ts": "mpegts",
    "m2ts": "mpegts", "mpeg-ps": "mpeg", "matroska": "matroska", "webm": "matroska",
}  # fmt: skip


def sniff(head: bytes) -> str | None:
    """The container of a video from its first bytes (at least 1 KiB), or None.

    MP4/MOV/3GP/M4V by ftyp brand; AVI by RIFF type; MPEG-TS by a sync byte every 188 bytes
    (M2TS/MTS: every 192, after a 4-byte timestamp); MPEG-PS (MPG, MOD, TOD) by its pack header;
    Matroska and WebM by the EBML magic.
    """
    if head[4:8] == b"ftyp" and len(head) >= 16:
        size = struct.unpack(">I", head[:4])[0]
        end = min(max(size, 16), len(head), 256)
        brands = [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]
        if brands[0] in _STILL_BRANDS or (
            set(brands) & _STILL_BRANDS and not set(brands) & (_MP4_BRANDS | _MOV_BRANDS)
        ):
            return None
        for container, known in (("mov", _MOV_BRANDS), ("3gp", _3GP_BRANDS), ("m4v", _M4V_BRANDS)):
            if brands[0] in known:
                return container
        return "mp4" if set(brands) & (_MP4_BRANDS | _3GP_BRANDS | _M4V_BRANDS | _MOV_BRANDS) else None
    if head[4:8] in _QT_ATOMS and struct.unpack(">I", head[:4])[0] >= 8:
        return "mov"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if len(head) >= 188 * 3 and all(head[i] == 0x47 for i in (0, 188, 376)):
        return "mpeg-ts"
    if len(head) >= 192 * 3 and all(head[i] == 0x47 for i in (4, 196, 388)):
        return "m2ts"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "matroska"
    return None


def check_structure(src: Source, container: str) -> None:
    """Catch a copy cut short from the container's own lengths, reading 16 bytes per top-level box:
    every ISOBMFF box must end within the file and one must be 'moov'; an AVI's RIFF chunk must
    fit. (MPEG-TS and PS carry no lengths; Matroska is left to FFmpeg.)"""
    if container in _ISOBMFF:
        pos, moov = 0, False
        for _ in range(10_000):
            if pos >= src.size:
                break
            head = src.read(pos, 16)
            if len(head) < 8:
                raise PhotoError("truncated", f"the file ends inside a box header at byte {pos:,}")
            size, kind = struct.unpack(">I4s", head[:8])
            if size == 1:
                size = struct.unpack(">Q", head[8:16])[0] if len(head) == 16 else 0
            elif size == 0:
                size = src.size - pos  # "to the end of the file"
            if size < 8 or not all(32 <= c < 127 for c in kind):
                raise PhotoError("corrupt", f"no valid box at byte {pos:,} (random data after the header?)")
            if pos + size > src.size:
                name = kind.decode("latin-1")
                end = f"{src.size:,} of {pos + size:,} bytes"
                raise PhotoError(
                    "truncated", f"the file ends inside its '{name}' box ({end}: cut short while copying?)"
                )
            moov = moov or kind == b"moov"
            pos += size
        else:
            raise PhotoError("corrupt", "more than 10,000 top-level boxes")
        if not moov:
            raise PhotoError("truncated", "no 'moov' index: the recording or the copy was cut short")
    elif container == "avi":
        riff = struct.unpack("<I", src.read(4, 4).ljust(4, b"\0"))[0]
        if riff + 8 > src.size:
            raise PhotoError("truncated", f"the AVI file ends at {src.size:,} bytes, its RIFF chunk at {riff + 8:,}")


@dataclass(frozen=True, slots=True)
class Sampled:
    """What a video is, for matching: its size, length and rate, and a frame at each fraction."""

    width: int
    height: int
    duration: float  # seconds
    fps: float
    frames: list[np.ndarray]  # BGR, display orientation, one per FRACTIONS


def sample(src: Source) -> Sampled:
    """Open the video on `src`, read its header, decode one frame at each of FRACTIONS of its
    duration. Raises PhotoError with a stable code."""
    container = sniff(src.read(0, 1024))
    if container is None:
        raise PhotoError("not-an-image", "not a video container hashwatchd knows")
    check_structure(src, container)
    import av  # noqa: PLC0415 - decoder processes only

    try:
        c = av.open(
            SourceFile(src),
            format=DEMUXER[container],
            io_open=_refuse_nested_open,
            # probesize/analyzeduration bound what the stream probe reads; max_pixels makes FFmpeg's
            # decoders refuse a frame size before allocating it (the probe decodes a frame)
            options={"probesize": str(2 << 20), "analyzeduration": "2000000", "max_pixels": str(MAX_FRAME_PIXELS)},
            buffer_size=64 << 10,
        )
    except PhotoError:
        raise
    except Exception as exc:  # every FFmpeg failure becomes a stable code
        raise av_error(exc) from None
    try:
        return _sample(c)
    except PhotoError:
        raise
    except Exception as exc:
        raise av_error(exc) from None
    finally:
        c.close()


def _sample(c: Any) -> Sampled:
    if not c.streams.video:
        raise PhotoError("unsupported-format", "the file holds no video stream (an audio recording?)")
    vs = c.streams.video[0]
    cc = vs.codec_context
    if not cc.width or not cc.height:
        raise PhotoError("corrupt", "the video stream has no frame size")
    if cc.width * cc.height > MAX_FRAME_PIXELS:
        raise PhotoError("too-large", f"too large: {cc.width} x {cc.height} frames")
    tb = float(vs.time_base) if vs.time_base else 0.0
    if vs.duration and tb:
        duration = vs.duration * tb
    elif c.duration:
        duration = c.duration / 1_000_000
    else:
        raise PhotoError("corrupt", "the video states no duration")
    if not 0 < duration <= 48 * 3600:
        raise PhotoError("corrupt", f"implausible duration {duration:.3f} s")
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    fps = float(rate) if rate else 0.0
    start = (vs.start_time or 0) * tb
    rotation = _rotation(vs)
    vs.thread_count = 1
    frames = []
    for fraction in FRACTIONS:
        target = start + fraction * duration
        c.seek(int(target / tb), stream=vs, backward=True, any_frame=False)
        got = None
        for n, frame in enumerate(c.decode(vs), 1):
            t = frame.time or 0.0
            if t + 0.5 / max(fps, 1.0) >= target or n >= MAX_DECODE_PER_SAMPLE:
                got = frame
                break
        if got is None:
            raise PhotoError("truncated", f"no frame could be decoded at {fraction:.3f} of the duration")
        frames.append(_rotate(got.to_ndarray(format="bgr24"), rotation))
    h, w = frames[0].shape[:2]
    return Sampled(w, h, duration, fps, frames)


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> object:
    raise PhotoError("unsupported-format", f"the video refers to another file ({url[:80]})")


def av_error(exc: BaseException) -> PhotoError:
    """A stable code for a PyAV (FFmpeg) failure."""
    import av  # noqa: PLC0415

    text = (getattr(exc, "strerror", None) or str(exc)).strip()[:200]
    if isinstance(exc, MemoryError):
        return PhotoError("too-large", f"out of memory while decoding the video ({text})")
    if isinstance(exc, av.error.EOFError):
        return PhotoError("truncated", f"the video ends before its data does ({text})")
    if isinstance(exc, av.error.PatchWelcomeError | av.error.DecoderNotFoundError):
        return PhotoError("unsupported-format", f"FFmpeg cannot decode this video ({text})")
    return PhotoError("corrupt", f"the video is damaged ({type(exc).__name__}: {text})")


def _rotation(vs: Any) -> int:
    """Degrees clockwise a player turns the frames (phones record portrait as rotated landscape)."""
    for data in getattr(vs, "side_data", None) or []:
        to_rotation = getattr(data, "to_rotation", None)
        if to_rotation is not None:
            return round(-to_rotation()) % 360
    try:
        return int((vs.metadata or {}).get("rotate", 0)) % 360
    except ValueError:
        return 0


def _rotate(img: np.ndarray, degrees: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    table = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(img, table[degrees]) if degrees in table else img
