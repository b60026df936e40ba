"""Opening the buffer when its file is damaged: move it aside, start a fresh one, salvage what reads.

A corrupt or truncated database must not stop the agent from receiving: the damaged file (and
its -wal) is renamed to ``<name>.corrupt-<unix time>`` for inspection, a new buffer is created in
its place, and every row that SQLite can still read from the damaged copy is copied over.
"""

import os
import sqlite3
import time
from dataclasses import dataclass

from gateway.store import codec
from gateway.store.buffer import ReadingBuffer
from gateway.store.errors import StoreCorrupt
from gateway.store.schema import SCHEMA_VERSION


@dataclass(frozen=True)
class Recovery:
    quarantined: str  # where the damaged file went
    reason: str  # the error that made it necessary
    salvaged_rows: int
    salvaged_readings: int


def open_buffer(path: str) -> tuple[ReadingBuffer, Recovery | None]:
    """Open the buffer at path; if it is corrupt, quarantine it, salvage its rows, and open a fresh one."""
    try:
        return ReadingBuffer(path), None
    except StoreCorrupt as e:
        reason = str(e)
    aside = "%s.corrupt-%d" % (path, int(time.time()))
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, aside + suffix)
    buf = ReadingBuffer(path)
    rows, readings = _salvage(aside, buf)
    return buf, Recovery(aside, reason, rows, readings)


def _salvage(damaged: str, buf: ReadingBuffer) -> tuple[int, int]:
    try:
        src = sqlite3.connect("file:%s?mode=ro" % damaged, uri=True)
    except sqlite3.Error:
        return 0, 0
    try:
        try:
            devices = dict(src.execute("SELECT id, eui FROM device").fetchall())
            version = src.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            return 0, 0
        rows = readings = 0
        last = 0
        step = 1
        while step < 1 << 24:
            batch: list[tuple] = []
            try:
                for r in src.execute(
                    "SELECT id, dev, rx, n, data, meta FROM reading WHERE id > ? ORDER BY id", (last,)
                ):
                    batch.append(r)
                    if len(batch) >= 500:
                        break
                failed = False
            except sqlite3.Error:
                failed = True  # a damaged page: keep what came before it, then probe past it
            if batch:
                last = batch[-1][0]
                step = 1
                good = [(devices[r[1]], r[2], r[3], r[4], _meta(r[5], version)) for r in batch if r[1] in devices]
                buf.insert_raw(good)
                rows += len(good)
                readings += sum(r[2] for r in good)
            elif failed:
                last += step
                step *= 2
            else:
                break
        return rows, readings
    finally:
        src.close()


def _meta(blob: bytes | None, version: int) -> bytes | None:
    """A salvaged row's uplink in the fresh file's format; None (readings kept) if unreadable."""
    if blob is None or version == SCHEMA_VERSION:
        return blob
    try:
        return codec.upgrade_meta(blob)
    except ValueError:
        return None
