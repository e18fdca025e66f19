"""hashwatchd: which of these photos are not in my library yet?"""


def __getattr__(name: str) -> str:
    """`__version__` from the installed metadata, read on first use (importlib.metadata is
    slow to import, and most runs never ask)."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("hashwatchd")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
