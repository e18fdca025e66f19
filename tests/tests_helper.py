"""Values shared with helper subprocesses started by the store tests."""

from hashwatchd.model import FileStat, Fingerprint

FP = Fingerprint(0x0123456789ABCDEF, 2**64 - 1, bytes(range(256)), bytes(128), 4032, 3024, b"\x01" * 16)
STAT = FileStat(1234, 1_700_000_000_123_456_789, 42, 2049)
