"""hashwatchd: which of these photos are not in my library yet?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hashwatchd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
