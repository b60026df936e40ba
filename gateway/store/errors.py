"""Typed errors of the buffer, translated from SQLite's result codes so callers can act on them."""

import sqlite3

# SQLite primary result codes (https://sqlite.org/rescode.html)
_SQLITE_PERM = 3
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


class StoreError(Exception):
    """The buffer cannot do what was asked; the message says what and where."""


class StoreFull(StoreError):
    """The disk (or the filesystem holding the buffer) is full: SQLITE_FULL."""


class StoreReadOnly(StoreError):
    """The buffer's file or directory is read-only."""


class StoreCorrupt(StoreError):
    """The database file is damaged or is not an SQLite database."""


class StoreIOError(StoreError):
    """The operating system reported an I/O error, or the file cannot be opened."""


def is_full(e: sqlite3.Error) -> bool:
    """True when SQLite failed for want of disk space (SQLITE_FULL)."""
    code = getattr(e, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == _SQLITE_FULL


def translate(e: sqlite3.Error, doing: str) -> StoreError:
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = "%s: %s" % (doing, e)
    if primary == _SQLITE_FULL:
        return StoreFull(text + " (free disk space or lower [buffer] quota_mb)")
    if primary in (_SQLITE_READONLY, _SQLITE_PERM):
        return StoreReadOnly(text + " (check the mount and the permissions of [storage] data_dir)")
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreCorrupt(text)
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        return StoreIOError(text)
    return StoreError(text)
