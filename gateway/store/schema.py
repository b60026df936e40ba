"""The buffer's SQLite file: tables, page size, journal and checkpoint settings, and opening it.

Durability: WAL with ``synchronous=FULL``, so a commit returns after the WAL is fsynced. The
measured disk writes behind each setting are in docs/gateway-forward.md (Disk writes).
"""

import os
import sqlite3

from gateway.sqlite import connect
from gateway.store.errors import StoreCorrupt, StoreError
from gateway.store.reserve import wal_pages

PAGE_SIZE = 512  # a commit dirties one 4 KiB block plus its WAL frames: small frames (docs/gateway-forward.md)
WAL_AUTOCHECKPOINT_PAGES = 1000
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    id INTEGER PRIMARY KEY,
    eui TEXT NOT NULL UNIQUE,
    evicted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reading (
    id INTEGER PRIMARY KEY,   -- arrival order
    dev INTEGER NOT NULL,     -- device.id
    rx INTEGER NOT NULL,      -- received, unix seconds
    n INTEGER NOT NULL,       -- readings in data
    data BLOB NOT NULL,       -- codec.encode_readings
    meta BLOB                 -- codec.encode_uplink, NULL for local sensors
);
"""


def open_db(path: str) -> tuple[sqlite3.Connection, int]:
    """The buffer's connection, its tables created, and its page size; sqlite3.Error or StoreError."""
    db = connect(path, ["page_size=%d" % PAGE_SIZE], busy_timeout_s=10)  # page size: new files only
    try:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError("%s: cannot use WAL journal mode (got %s)" % (path, mode))
        db.execute("PRAGMA synchronous=FULL")
        # Debian builds SQLite with secure_delete on (freed content zeroed). Readings are not
        # secrets and the file is the agent's own (mode 0700 directory): no zeroing.
        db.execute("PRAGMA secure_delete=OFF")
        check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise StoreCorrupt("%s fails SQLite's integrity check: %s" % (path, check))
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StoreError("%s has schema version %d; this agent knows %d" % (path, version, SCHEMA_VERSION))
        db.executescript(_SCHEMA)
        if version != SCHEMA_VERSION:  # written once: a reopen on a full disk writes nothing
            db.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
        page_size: int = db.execute("PRAGMA page_size").fetchone()[0]  # an older file keeps its own
        # A checkpoint grows the file by up to the WAL's pages: on a small disk the WAL stays small
        # enough that giving the reserve back always lets the checkpoint and the evictions run.
        pages = wal_pages(os.path.dirname(os.path.abspath(path)), page_size, WAL_AUTOCHECKPOINT_PAGES)
        db.execute("PRAGMA wal_autocheckpoint=%d" % pages)
        # after a checkpoint the WAL file shrinks back to twice that: on a small disk its space returns
        db.execute("PRAGMA journal_size_limit=%d" % min(JOURNAL_SIZE_LIMIT, 2 * pages * page_size))
    except BaseException:
        db.close()
        raise
    return db, page_size
