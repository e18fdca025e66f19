"""The exceptions hashwatchd raises, and the exit code each one maps to.

HashwatchdError
├── ConfigError        a config key or command-line value is wrong      -> exit 2
├── NoInputError       what a command reads is not there yet (no index)  -> exit 66 (EX_NOINPUT)
├── StoreError         the index cannot be opened or written            -> exit 74 (EX_IOERR)
│   ├── StoreLockedError   another process is writing the same index   -> exit 75 (EX_TEMPFAIL)
│   ├── StoreFormatError   the index was written by another schema     -> exit 65 (EX_DATAERR)
│   └── StoreWriteError    a commit failed (disk full): retried by the daemon -> exit 74
├── PublishError       the status file could not be replaced             -> exit 74
├── WorkerError        no decoder process can be started (no memory, no pids) -> exit 71 (EX_OSERR)
└── PhotoError         one photo could not be read; never stops a run: it becomes an
                       `unreadable` entry with its Problem (code, detail)

Per-photo errors are kept apart from global ones (as borg separates BackupOSError from other
I/O errors): a bad photo is a fact to report, a bad index or config is a reason to stop.
"""

from __future__ import annotations


class HashwatchdError(Exception):
    """Base class; `exit_code` is what the CLI returns when this reaches it."""

    exit_code = 1


class ConfigError(HashwatchdError):
    """A configuration value is unusable. The message names the key, the value and what is allowed;
    `message` replaces that sentence where it does not fit (a YAML syntax error, a missing setting)."""

    exit_code = 2

    def __init__(self, key: str, value: object, allowed: str = "", source: str = "", *, message: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(where + (message or f"{key}: {value!r} is not allowed; expected {allowed}"))
        self.key = key
        self.value = value


class NoInputError(HashwatchdError):
    """What the command reads has not been made yet: the message names where it looked and the
    command that makes it."""

    exit_code = 66


class StoreError(HashwatchdError):
    """The LMDB index failed; the message names the directory."""

    exit_code = 74


class StoreLockedError(StoreError):
    """Another process holds the writer lock of this state directory."""

    exit_code = 75


class StoreFormatError(StoreError):
    """The index on disk has another schema than this version writes."""

    exit_code = 65


class StoreWriteError(StoreError):
    """A commit failed (disk full, I/O error); the index is still at its last commit.

    The daemon keeps the change in memory and retries; a one-shot scan stops.
    """


class PublishError(HashwatchdError):
    """The status file could not be written; the previous one is left intact."""

    exit_code = 74


class WorkerError(HashwatchdError):
    """The system refuses to start a decoder process; the message says what it refused."""

    exit_code = 71


class PhotoError(HashwatchdError):
    """One file cannot be turned into a picture.

    `code` is a short stable word (`corrupt`, `too-large`, `unsupported-format`, ...) that tools can
    match on; `detail` is the human reason.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
