"""SQLite as the agent uses it: autocommit connections with explicit ``BEGIN IMMEDIATE`` transactions.

Every store (reading buffer, key registry, inventory) opens its file with ``connect`` and writes
inside ``transaction``. ``isolation_level=None`` leaves transactions to us, so a write never
starts one implicitly; ``BEGIN IMMEDIATE`` takes the write lock at the start, so a writer waits
for another (busy timeout) instead of failing at COMMIT with SQLITE_BUSY (sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from types import TracebackType


def connect(
    path: str | os.PathLike[str], pragmas: Sequence[str] = (), busy_timeout_s: float = 5.0
) -> sqlite3.Connection:
    """A connection in autocommit mode, usable from any thread (callers hold their own lock),
    with each ``PRAGMA`` of pragmas run in order (``"journal_mode=WAL"``, ``"synchronous=FULL"``)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s)
    try:
        for p in pragmas:
            db.execute("PRAGMA " + p)
    except BaseException:
        db.close()
        raise
    return db


class transaction:  # noqa: N801 - used as a statement: ``with transaction(db):``
    """``BEGIN IMMEDIATE`` on entry; COMMIT when the block ends normally, ROLLBACK when it raises
    or the COMMIT itself fails (disk full). With a lock, the lock is held for the whole transaction."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock | threading.RLock | None = None) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self._db

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                try:
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            else:
                self._rollback()
        finally:
            if self._lock is not None:
                self._lock.release()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
