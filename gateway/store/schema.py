"""The buffer's SQLite file: tables, page size, journal and checkpoint settings, and opening it.

Durability: WAL with ``synchronous=FULL``, so a commit returns after the WAL is fsynced. The
measured disk writes behind each setting are in docs/gateway-forward.md (Disk writes).
"""

import logging
import os
import sqlite3

from gateway.sqlite import connect, transaction
from gateway.store import codec
from gateway.store.errors import StoreCorrupt, StoreError
from gateway.store.reserve import wal_pages

PAGE_SIZE = 512  # a commit dirties one 4 KiB block plus its WAL frames: small frames (docs/gateway-forward.md)
WAL_AUTOCHECKPOINT_PAGES = 1000
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
SCHEMA_VERSION = codec.FORMAT  # versions differ only in the uplink's encoding (meta)
OLD_VERSIONS = (1,)  # read, and upgraded at open when the disk has room

log = logging.getLogger("edge.gateway.store")

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


def open_db(path: str) -> tuple[sqlite3.Connection, int, int]:
    """The buffer's connection, its tables created, its page size and the version its rows are in
    (SCHEMA_VERSION, or an old one it could not be upgraded from); sqlite3.Error or StoreError."""
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
        if version not in (0, SCHEMA_VERSION, *OLD_VERSIONS):
            raise StoreError("%s has schema version %d; this agent knows %d" % (path, version, SCHEMA_VERSION))
        db.executescript(_SCHEMA)
        if version == 0:  # written once: a reopen on a full disk writes nothing
            db.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
            version = SCHEMA_VERSION
        elif version != SCHEMA_VERSION:
            version = _upgrade(db, path, version)
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
    return db, page_size, version


def _upgrade(db: sqlite3.Connection, path: str, version: int) -> int:
    """Rewrite a version-1 file's uplinks in the current encoding, all in one transaction; the new
    version, or the old one when that fails (a full disk): its rows are then read and written in it."""
    db.create_function("edge_upgrade_meta", 1, codec.upgrade_meta, deterministic=True)
    try:
        with transaction(db):
            db.execute("UPDATE reading SET meta = edge_upgrade_meta(meta) WHERE meta IS NOT NULL")
            db.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
    except sqlite3.Error as e:
        log.warning("%s stays in buffer format %d (upgrade to %d failed: %s)", path, version, SCHEMA_VERSION, e)
        return version
    log.info("%s upgraded from buffer format %d to %d", path, version, SCHEMA_VERSION)
    return SCHEMA_VERSION
