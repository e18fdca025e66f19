"""Small real files of every kind a camera or phone writes, made in-process for the tests.

Why: tests must exercise the real decoders (LibRaw, FFmpeg, libheif, libjpeg) on real containers,
but no registry package ships raw or video samples, and a test must not download anything. Each
maker here returns bytes in well under a second, so a test can build a whole card in its tmp_path.

* `scene()` a deterministic picture with structure (hashwatchd refuses to match flat pictures).
* `dng()` a real DNG from Bayer data through pidng (LibRaw reads it; no preview: pidng writes one IFD).
* `tiff_raw()` a raw file laid out like a Canon CR2 or a Nikon NEF (a TIFF with a full-size JPEG
  preview, a thumbnail and uncompressed CFA data), or like a DNG with a JPEG preview in IFD0 and
  the CFA image in a SubIFD: written by this module's own small TIFF writer.
* `video()` MP4/MOV/AVI through PyAV (libx264 ships in the av wheel; mpeg4 otherwise); `remux()` the
  same packets in another container or with other metadata.
* `heic()` HEIC through pillow-heif, optionally rotated (irot) and with a thumbnail.
* `sidecar()` .XMP, .THM, .AAE and friends; `hostile` helpers cut, scramble or inflate any of them.

All makers are pure functions of their arguments (same bytes every call), so `identical` tests can
make a file twice.
"""

from __future__ import annotations

import io
import random
import struct
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

# ----------------------------------------------------------------------------------------- pictures


def scene(seed: int = 0, size: tuple[int, int] = (384, 256)) -> np.ndarray:
    """A BGR uint8 picture of `size` (w, h) with shapes at several scales and a little noise:
    enough structure for every hash and verification gate, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[:, :, c] = 90 + 60 * (a * xx / w + b * yy / h)
    for _ in range(12):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.05, 0.3) * min(w, h)
        colour = rng.uniform(0, 255, 3)
        mask = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
        img[mask] = 0.35 * img[mask] + 0.65 * colour
    for _ in range(6):
        x0, y0 = int(rng.uniform(0, w * 0.8)), int(rng.uniform(0, h * 0.8))
        img[y0 : y0 + int(h * 0.12), x0 : x0 + int(w * 0.2)] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    """Baseline JPEG bytes of a BGR picture (no EXIF)."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def bayer(bgr: np.ndarray, bits: int = 12) -> np.ndarray:
    """An RGGB mosaic of the picture in linear light (sRGB-ish gamma 2.2 undone), uint16."""
    lin = (bgr.astype(np.float32) / 255.0) ** 2.2 * ((1 << bits) - 1)
    h, w = lin.shape[:2]
    m = np.empty((h - h % 2, w - w % 2), np.uint16)
    m[0::2, 0::2] = lin[0 : h - h % 2 : 2, 0 : w - w % 2 : 2, 2]  # R
    m[0::2, 1::2] = lin[0 : h - h % 2 : 2, 1 : w - w % 2 : 2, 1]  # G
    m[1::2, 0::2] = lin[1 : h - h % 2 : 2, 0 : w - w % 2 : 2, 1]  # G
    m[1::2, 1::2] = lin[1 : h - h % 2 : 2, 1 : w - w % 2 : 2, 0]  # B
    return m


# ----------------------------------------------------------------------------------------- DNG (pidng)
#: XYZ (D65) -> linear sRGB, x 10000 (IEC 61966-2-1), row-major: a DNG ColorMatrix for a camera
#: whose raw channels are linear sRGB.
_XYZ_TO_SRGB = (32406, -15372, -4986, -9689, 18758, 415, 557, -2040, 10570)


def dng(bgr: np.ndarray | None = None, *, orientation: int = 1, make: str = "Google", model: str = "Pixel 7") -> bytes:
    """A real DNG (pidng 4): uncompressed 12-bit RGGB CFA data of the picture, in one IFD, no preview.

    LibRaw decodes it (hashwatchd's half-size path). ColorMatrix1 is XYZ(D65) -> linear sRGB, i.e.
    the "camera" sees linear sRGB, and the white balance is neutral: LibRaw's sRGB output then gives
    the picture back. (An identity ColorMatrix1 tells LibRaw the camera sees XYZ, and its sRGB
    output is then far off.)
    """
    from pidng.core import RAW2DNG, DNGTags, Tag  # noqa: PLC0415
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation  # noqa: PLC0415

    raw = bayer(scene() if bgr is None else bgr, bits=12)
    h, w = raw.shape
    t = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, w),
        (Tag.ImageLength, h),
        (Tag.TileWidth, w),
        (Tag.TileLength, h),
        (Tag.Orientation, orientation),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, 16),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 0),
        (Tag.WhiteLevel, 4095),
        (Tag.ColorMatrix1, [[v, 10000] for v in _XYZ_TO_SRGB]),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        (Tag.Make, make),
        (Tag.Model, model),
        (Tag.DNGVersion, DNGVersion.V1_4),
        (Tag.DNGBackwardVersion, DNGVersion.V1_2),
    ):
        t.set(tag, value)
    conv = RAW2DNG()
    conv.options(t, path="", compress=False)
    return bytes(conv.convert(raw))  # no file name: pidng returns the buffer


# ----------------------------------------------------------------------------------------- TIFF writer
_TYPE_FMT = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 7: "s", 8: "h", 9: "i", 10: "ii"}


@dataclass(frozen=True)
class At:
    """An entry value: the file offset of blob `name` (or of IFD `name` when ifd=True)."""

    name: str
    ifd: bool = False


@dataclass(frozen=True)
class SizeOf:
    """An entry value: the byte length of blob `name`."""

    name: str


@dataclass
class _TiffFile:
    """IFDs in file order; `chain` is the IFD0 -> IFD1 -> ... linked list, the rest are SubIFDs."""

    order: str  # '<' or '>'
    ifds: dict[str, list[tuple[int, int, object]]] = field(default_factory=dict)
    chain: list[str] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    header_tail: bytes = b""  # bytes after the 8-byte TIFF header (CR2: 'CR', version, raw IFD)

    @staticmethod
    def _count_and_bytes(order: str, typ: int, value: object, resolve) -> tuple[int, bytes]:
        if isinstance(value, At | SizeOf):
            return 1, struct.pack(order + "I", resolve(value))
        if isinstance(value, list) and value and isinstance(value[0], At):
            return len(value), b"".join(struct.pack(order + "I", resolve(v)) for v in value)
        if typ in (2, 7):
            raw = value.encode("latin-1") + b"\x00" if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]
            return len(raw), raw
        values = list(value)  # type: ignore[call-overload]
        if typ in (5, 10):
            return len(values), b"".join(struct.pack(order + _TYPE_FMT[typ], *v) for v in values)
        return len(values), struct.pack(order + _TYPE_FMT[typ] * len(values), *values)

    def build(self) -> bytes:
        o = self.order
        start = 8 + len(self.header_tail)

        def extra_len(entries: list[tuple[int, int, object]]) -> int:
            total = 0
            for _, typ, value in entries:
                _n, raw = self._count_and_bytes(o, typ, value, lambda v: 0)
                if len(raw) > 4:
                    total += len(raw) + (len(raw) & 1)
            return total

        where: dict[str, int] = {}
        pos = start
        for name, entries in self.ifds.items():
            where["ifd:" + name] = pos
            pos += 2 + 12 * len(entries) + 4 + extra_len(entries)
        for name, blob in self.blobs.items():
            where["blob:" + name] = pos
            pos += len(blob) + (len(blob) & 1)

        def resolve(v: At | SizeOf) -> int:
            if isinstance(v, SizeOf):
                return len(self.blobs[v.name])
            return where[("ifd:" if v.ifd else "blob:") + v.name]

        out = bytearray(pos)
        out[:8] = (b"II" if o == "<" else b"MM") + struct.pack(o + "HI", 42, where["ifd:" + self.chain[0]])
        out[8:start] = self.header_tail
        for name, unsorted in self.ifds.items():
            p = where["ifd:" + name]
            entries = sorted(unsorted, key=lambda e: e[0])  # TIFF wants ascending tags
            struct.pack_into(o + "H", out, p, len(entries))
            data_at = p + 2 + 12 * len(entries) + 4
            for k, (tag, typ, value) in enumerate(entries):
                count, raw = self._count_and_bytes(o, typ, value, resolve)
                q = p + 2 + 12 * k
                struct.pack_into(o + "HHI", out, q, tag, typ, count)
                if len(raw) <= 4:
                    out[q + 8 : q + 8 + len(raw)] = raw
                else:
                    struct.pack_into(o + "I", out, q + 8, data_at)
                    out[data_at : data_at + len(raw)] = raw
                    data_at += len(raw) + (len(raw) & 1)
            nxt = 0
            if name in self.chain and self.chain.index(name) + 1 < len(self.chain):
                nxt = where["ifd:" + self.chain[self.chain.index(name) + 1]]
            struct.pack_into(o + "I", out, p + 2 + 12 * len(entries), nxt)
        for name, blob in self.blobs.items():
            out[where["blob:" + name] : where["blob:" + name] + len(blob)] = blob
        return bytes(out)

    def offset_of(self, data: bytes, name: str) -> int:
        """Where blob `name` landed (tests use it to damage a preview)."""
        return data.find(self.blobs[name])


def tiff_raw(
    kind: str = "cr2",
    bgr: np.ndarray | None = None,
    *,
    orientation: int = 1,
    preview: bool = True,
    when: str = "2024:03:10 09:00:00",
    exif: dict[int, str] | None = None,
) -> bytes:
    """A raw file shaped like a camera's: `kind` 'cr2' (little-endian, 'CR' at byte 8, IFD0 = the
    full-size JPEG preview as a one-strip Compression 6 image, IFD1 = 160x120 JPEG thumbnail,
    IFD3 = CFA), 'nef' (big-endian, IFD0 = 160x120 RGB thumbnail with SubIFDs: the full-size
    JPEG as JPEGInterchangeFormat, then the CFA), or 'dng' (IFD0 = DNGVersion + the JPEG preview,
    SubIFD = the CFA). preview=False leaves the full-size JPEG out (LibRaw's half-size path).

    The CFA is uncompressed 16-bit RGGB, 12 bits used; LibRaw opens the cr2/nef shapes. `exif`
    adds an Exif IFD with those ASCII tags (DateTimeOriginal 0x9003, SubSecTimeOriginal 0x9291...).
    """
    pic = scene() if bgr is None else bgr
    h, w = pic.shape[:2]
    cfa = bayer(pic, bits=12)
    ch, cw = cfa.shape
    thumb = cv2.resize(pic, (160, 120), interpolation=cv2.INTER_AREA)
    order = ">" if kind == "nef" else "<"
    f = _TiffFile(order)
    f.blobs["cfa"] = cfa.astype(order + "u2").tobytes()
    cfa_ifd = [
        (254, 4, [0]),
        (256, 4, [cw]),
        (257, 4, [ch]),
        (258, 3, [16]),
        (259, 3, [1]),
        (262, 3, [32803]),
        (273, 4, At("cfa")),
        (277, 3, [1]),
        (278, 4, [ch]),
        (279, 4, SizeOf("cfa")),
        (284, 3, [1]),
        (33421, 3, [2, 2]),
        (33422, 1, [0, 1, 1, 2]),
    ]
    ident = [
        (271, 2, {"cr2": "Canon", "nef": "NIKON CORPORATION", "dng": "Google"}[kind]),
        (272, 2, {"cr2": "Canon EOS 80D", "nef": "NIKON D750", "dng": "Pixel 7"}[kind]),
        (274, 3, [orientation]),
        (306, 2, when),
    ]
    if exif:
        f.ifds["exif"] = [(tag, 2, text) for tag, text in exif.items()]
        ident.append((0x8769, 4, [At("exif", ifd=True)]))
    if preview:
        f.blobs["preview"] = jpeg(pic, 90)
    if kind == "cr2":
        f.blobs["thumb"] = jpeg(thumb, 85)
        f.ifds["ifd0"] = (
            ident
            + [(256, 3, [w]), (257, 3, [h]), (259, 3, [6])]
            + ([(273, 4, At("preview")), (279, 4, SizeOf("preview"))] if preview else [])
        )
        f.ifds["ifd1"] = [(259, 3, [6]), (513, 4, At("thumb")), (514, 4, SizeOf("thumb"))]
        f.ifds["ifd2"] = [(256, 3, [1]), (257, 3, [1]), (259, 3, [1])]  # the small RGB image real CR2s carry, stubbed
        f.ifds["ifd3"] = cfa_ifd
        f.chain = ["ifd0", "ifd1", "ifd2", "ifd3"]
        f.header_tail = b"CR\x02\x00" + b"\x00" * 4  # raw IFD offset patched below
        data = bytearray(f.build())
        raw_ifd = _ifd_offsets(bytes(data), order)[3]
        struct.pack_into("<I", data, 12, raw_ifd)
        return bytes(data)
    if kind == "nef":
        f.blobs["thumb"] = cv2.cvtColor(thumb, cv2.COLOR_BGR2RGB).tobytes()
        subs = (["prev"] if preview else []) + ["raw"]
        f.ifds["ifd0"] = [
            *ident,
            (254, 4, [1]),
            (256, 4, [160]),
            (257, 4, [120]),
            (258, 3, [8, 8, 8]),
            (259, 3, [1]),
            (262, 3, [2]),
            (273, 4, At("thumb")),
            (277, 3, [3]),
            (278, 4, [120]),
            (279, 4, SizeOf("thumb")),
            (284, 3, [1]),
            (330, 4, [At(s, ifd=True) for s in subs]),
        ]
        if preview:
            f.ifds["prev"] = [(254, 4, [1]), (259, 3, [6]), (513, 4, At("preview")), (514, 4, SizeOf("preview"))]
        f.ifds["raw"] = cfa_ifd
        f.chain = ["ifd0"]
        return f.build()
    if kind == "dng":
        f.ifds["ifd0"] = (
            ident
            + [
                (254, 4, [1]),
                (50706, 1, [1, 4, 0, 0]),
                (50707, 1, [1, 2, 0, 0]),
                (50708, 2, "Pixel 7"),
                (50721, 10, [(v, 10000) for v in _XYZ_TO_SRGB]),  # ColorMatrix1
                (50728, 5, [(1, 1)] * 3),
                (50778, 3, [21]),  # AsShotNeutral, CalibrationIlluminant1 D65
            ]
            + (
                [
                    (256, 4, [w]),
                    (257, 4, [h]),
                    (259, 3, [7]),
                    (262, 3, [6]),
                    (277, 3, [3]),
                    (273, 4, At("preview")),
                    (279, 4, SizeOf("preview")),
                ]
                if preview
                else [(256, 4, [1]), (257, 4, [1])]
            )
        )
        f.ifds["ifd0"].append((330, 4, [At("raw", ifd=True)]))
        f.ifds["raw"] = [*cfa_ifd, (50714, 3, [0]), (50717, 3, [4095])]
        f.chain = ["ifd0"]
        return f.build()
    raise ValueError(f"kind {kind!r}: expected cr2, nef or dng")


def _ifd_offsets(data: bytes, order: str) -> list[int]:
    offs: list[int] = []
    off = struct.unpack(order + "I", data[4:8])[0]
    while off and len(offs) < 16:
        offs.append(off)
        n = struct.unpack(order + "H", data[off : off + 2])[0]
        off = struct.unpack(order + "I", data[off + 2 + 12 * n : off + 6 + 12 * n])[0]
    return offs


# ----------------------------------------------------------------------------------------- video


def _video_frames(seed: int, size: tuple[int, int], n: int) -> list[np.ndarray]:
    """A pan across a scene twice the frame's width: every frame differs, neighbours are close."""
    w, h = size
    big = scene(seed, (w * 2, h))
    return [np.ascontiguousarray(big[:, int(w * i / max(1, n - 1)) : int(w * i / max(1, n - 1)) + w]) for i in range(n)]


def video(
    container: str = "mp4",
    *,
    seed: int = 0,
    size: tuple[int, int] = (128, 96),
    frames: int = 24,
    fps: int = 12,
    codec: str | None = None,
    gop: int = 6,
    metadata: dict[str, str] | None = None,
    faststart: bool = False,
) -> bytes:
    """A short real video (mp4, mov or avi) of a pan across scene(seed): H.264 (libx264) when the av
    wheel has it, MPEG-4 part 2 otherwise (and always in AVI). Default: 2 s, 24 frames, ~30 KB."""
    import av  # noqa: PLC0415

    fmt = {"mp4": "mp4", "mov": "mov", "avi": "avi", "3gp": "3gp"}[container]
    if codec is None:
        codec = "libx264" if container != "avi" and "libx264" in av.codecs_available else "mpeg4"
    buf = io.BytesIO()
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(buf, "w", format=fmt, options=opts) as out:
        if metadata:
            out.metadata.update(metadata)
        st: Any = out.add_stream(codec, rate=fps)
        st.width, st.height = size
        st.pix_fmt = "yuv420p"
        if codec == "libx264":
            st.options = {"g": str(gop), "preset": "ultrafast", "crf": "18"}
        else:  # mpeg4's default 200 kbit/s smears a 128x96 frame past the video `same` rule
            st.options = {"g": str(gop)}
            st.bit_rate = 4_000_000
        for img in _video_frames(seed, size, frames):
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return buf.getvalue()


def remux(data: bytes, container: str = "mov", metadata: dict[str, str] | None = None) -> bytes:
    """The same coded frames in another container (or the same one with other metadata): other
    bytes, the same recording (hashwatchd's `same` for videos)."""
    import av  # noqa: PLC0415

    out_buf = io.BytesIO()
    src: Any
    out: Any
    with av.open(io.BytesIO(data)) as src, av.open(out_buf, "w", format=container) as out:
        if metadata:
            out.metadata.update(metadata)
        ins = src.streams.video[0]
        ost = out.add_stream_from_template(ins)
        for pkt in src.demux(ins):
            if pkt.dts is None:
                continue
            pkt.stream = ost
            out.mux(pkt)
    return out_buf.getvalue()


# ----------------------------------------------------------------------------------------- HEIC


def heic(
    bgr: np.ndarray | None = None,
    *,
    orientation: int = 1,
    quality: int = 60,
    thumbnail: int | None = None,
    grid: int = 0,
) -> bytes:
    """A real HEIC (HEVC via x265 in pillow-heif). orientation != 1 is stored as EXIF plus the
    irot/imir transform pillow-heif derives from it (libheif applies it on decode); thumbnail=N adds an
    N px thumbnail item; grid=512 tiles the image as iPhones do."""
    import pillow_heif  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    pic = scene() if bgr is None else bgr
    im = Image.fromarray(cv2.cvtColor(pic, cv2.COLOR_BGR2RGB))
    ex = Image.Exif()
    ex[0x010F], ex[0x0110], ex[0x0112] = "Apple", "iPhone 13", orientation
    buf = io.BytesIO()
    saved = getattr(pillow_heif.options, "GRID_TILE_SIZE", None)  # pillow-heif >= 1.2 only
    if saved is not None:
        pillow_heif.options.GRID_TILE_SIZE = grid
    try:
        # x265's default preset costs ~0.8 s even for 384x256; ultrafast ~0.1 s, still real HEVC
        pillow_heif.from_pillow(im).save(
            buf,
            quality=quality,
            exif=ex.tobytes(),
            enc_params={"preset": "ultrafast"},
            **({"thumbnails": [thumbnail]} if thumbnail else {}),
        )
    finally:
        if saved is not None:
            pillow_heif.options.GRID_TILE_SIZE = saved
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- sidecars

_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="{rating}"/>\n'
    ' </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>\n'
)
_AAE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
    '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n'
    "\t<key>adjustmentFormatIdentifier</key>\n\t<string>com.apple.photo</string>\n"
    "\t<key>adjustmentFormatVersion</key>\n\t<string>1.5</string>\n</dict>\n</plist>\n"
)


def sidecar(kind: str, *, seed: int = 0) -> bytes:
    """Bytes of a sidecar or housekeeping file as cameras and tools write them:
    'xmp' (darktable/Lightroom metadata), 'thm' (160x120 JPEG: Canon/GoPro video thumbnail),
    'aae' (iPhone edit plist), 'lrv' (GoPro low-res proxy: a small MP4), 'ctg' (Canon catalogue),
    'mrk' (DPOF print order), 'ds_store', 'thumbs_db' (junk with the right magic)."""
    if kind == "xmp":
        return _XMP.format(rating=seed % 6).encode()
    if kind == "thm":
        return jpeg(cv2.resize(scene(seed), (160, 120), interpolation=cv2.INTER_AREA), 85)
    if kind == "aae":
        return _AAE.encode()
    if kind == "lrv":
        return video("mp4", seed=seed, size=(64, 48), frames=12)
    if kind == "ctg":
        return random.Random(seed).randbytes(3072)
    if kind == "mrk":
        return b"[HDR]\r\nGEN REV = 01.10\r\n\r\n[JOB]\r\nPRT PID = 001\r\nPRT TYP = STD\r\n"
    if kind == "ds_store":
        return b"\x00\x00\x00\x01Bud1" + bytes(4088)
    if kind == "thumbs_db":
        return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1016)  # an OLE2 compound file header
    raise ValueError(f"unknown sidecar kind {kind!r}")


# ----------------------------------------------------------------------------------------- hostile


def truncated(data: bytes, fraction: float) -> bytes:
    """The first `fraction` of the file: a copy cut short."""
    return data[: max(1, int(len(data) * fraction))]


def random_after(data: bytes, keep: int, *, seed: int = 0) -> bytes:
    """The first `keep` bytes (the magic) followed by random bytes, same length."""
    return data[:keep] + random.Random(seed).randbytes(max(0, len(data) - keep))


def raw_claiming(data: bytes, width: int = 60000, height: int = 60000) -> bytes:
    """A TIFF-based raw whose every ImageWidth/ImageLength says width x height (a bomb header)."""
    order = "<" if data[:2] == b"II" else ">"
    out = bytearray(data)
    todo, seen = [struct.unpack(order + "I", data[4:8])[0]], set()
    while todo:
        off = todo.pop()
        if off in seen or not 8 <= off < len(data) - 2:
            continue
        seen.add(off)
        n = struct.unpack(order + "H", data[off : off + 2])[0]
        for k in range(n):
            q = off + 2 + 12 * k
            tag, typ, count = struct.unpack(order + "HHI", data[q : q + 8])
            if tag in (256, 257):
                v = width if tag == 256 else height
                if typ == 3:
                    struct.pack_into(order + "H", out, q + 8, min(v, 65535))
                else:
                    struct.pack_into(order + "I", out, q + 8, v)
            if tag == 330:
                at = struct.unpack(order + "I", data[q + 8 : q + 12])[0]
                vals = data[q + 8 : q + 12] if count == 1 else data[at : at + 4 * count]
                todo += list(struct.unpack(order + "I" * count, vals))
        nxt = struct.unpack(order + "I", data[off + 2 + 12 * n : off + 6 + 12 * n])[0]
        todo.append(nxt)
    return bytes(out)


def mp4_claiming(data: bytes, box: bytes = b"mdat", size: int = 0xFFFFFFF0) -> bytes:
    """An MP4 whose top-level `box` claims `size` bytes (a header claiming a huge size)."""
    at = data.find(box) - 4
    if at < 0:
        raise ValueError(f"no {box!r} box")
    return data[:at] + struct.pack(">I", size) + data[at + 4 :]
