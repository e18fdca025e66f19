"""Random access to one file's bytes for the decoders that must not read it all.

A raw file is 20-60 MB of which the camera's JPEG preview is a few; a video is gigabytes of
which a few sampled frames are needed. Their decoders read through a Source: bounded `pread`s
on the descriptor hashwatchd opened itself (never a path: files.py opens it with O_NOFOLLOW and
O_NONBLOCK), counted, so that what a decoder really read can be shown and bounded.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct

#: Bytes of the start and of the end of a file in its sample digest.
SAMPLE = 64 << 10


class Source:
    """A file's bytes by offset; small reads come from cached 4 KiB pages (an IFD walk makes many)."""

    PAGE = 4096

    def __init__(self, size: int) -> None:
        self.size = size
        self.bytes_read = 0
        self._pages: dict[int, bytes] = {}

    def _pread(self, length: int, offset: int) -> bytes:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length), clipped to the file: short only at its end."""
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        if length > 4 * self.PAGE:  # a bulk read (a preview): straight through, not cached
            return self.fetch(length, offset)
        first, last = offset // self.PAGE, (offset + length - 1) // self.PAGE
        parts = []
        for page in range(first, last + 1):
            chunk = self._pages.get(page)
            if chunk is None:
                chunk = self._pages[page] = self.fetch(self.PAGE, page * self.PAGE)
            parts.append(chunk)
        start = offset - first * self.PAGE
        return b"".join(parts)[start : start + length]

    def read_all(self) -> bytes:
        """The whole file (for LibRaw, which takes nothing less)."""
        return self.fetch(self.size, 0)

    def fetch(self, length: int, offset: int) -> bytes:
        """Bytes [offset, offset + length) read now (not cached), counted."""
        data = self._pread(length, offset)
        self.bytes_read += len(data)
        return data

    def sample_digest(self) -> bytes:
        """16 bytes of SHA-256 over the size, the first and the last SAMPLE bytes: files whose
        values differ are not byte-identical, and only equal values make a full read worth it."""
        h = hashlib.sha256(struct.pack("<Q", self.size))
        h.update(self.fetch(SAMPLE, 0))
        h.update(self.fetch(SAMPLE, max(0, self.size - SAMPLE)))
        return h.digest()[:16]

    def full_digest(self) -> bytes:
        """The first 16 bytes of the SHA-256 of the whole file (features.digest's definition),
        streamed in 1 MiB pieces so a 4 GB video costs no memory."""
        h = hashlib.sha256()
        for offset in range(0, self.size, 1 << 20):
            h.update(self.fetch(1 << 20, offset))
        return h.digest()[:16]


class FdSource(Source):
    """A descriptor hashwatchd opened; `size` is the size its stat said."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__(size)
        self.fd = fd

    def _pread(self, length: int, offset: int) -> bytes:
        out = []
        while length > 0:
            chunk = os.pread(self.fd, min(length, 1 << 26), offset)
            if not chunk:
                break
            out.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return b"".join(out)


class BytesSource(Source):
    """Bytes already in memory (a photo read whole; tests)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(len(data))
        self.data = data

    def _pread(self, length: int, offset: int) -> bytes:
        return self.data[offset : offset + length]


class SourceFile(io.RawIOBase):
    """A Source as a read-only, seekable file object, for PyAV (which takes a file object; OpenCV's
    VideoCapture would want a path)."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.source.fetch(len(buffer), self.pos)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self.pos = offset
        elif whence == io.SEEK_CUR:
            self.pos += offset
        elif whence == io.SEEK_END:
            self.pos = self.source.size + offset
        else:  # FFmpeg's AVSEEK_SIZE asks for the size
            return self.source.size
        return self.pos

    def tell(self) -> int:
        return self.pos
