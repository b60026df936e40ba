"""The durable reading buffer: SQLite in WAL mode, one row per uplink (or per local-sensor batch).

Life of a row: committed (pending) -> claimed by the forwarder (in flight) -> acknowledged by a
successful PUBACK -> deleted. The in-flight state lives in memory only, so after a crash or restart
every row on disk is pending again without a write. Acknowledged rows are deleted in batches
(``flush``); a crash between the PUBACK and the delete only sends those readings again, which the
platform drops by the SenML key (resolved name, time). Nothing is deleted before its PUBACK,
except by eviction (quota, age, disk full), which is counted per device.

Durability: ``PRAGMA synchronous=FULL`` in WAL mode, so a commit returns after the WAL is fsynced
and a power cut loses nothing that ``commit_uplinks`` returned from; what it can cost is the
readings still in the caller's group-commit window (never counted as received) and the resending
of acknowledged-but-not-yet-deleted rows. Design notes and the measured disk writes:
docs/gateway-forward.md.
"""

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from gateway.ratelog import RateLimitedLog
from gateway.sqlite import transaction
from gateway.store import codec
from gateway.store.codec import BadRecord
from gateway.store.errors import StoreError, StoreFull, translate
from gateway.store.records import BufferStats, Claim, Reading, StoredRow, Uplink
from gateway.store.reserve import Reserve
from gateway.store.schema import open_db
from gateway.store.stage import IN_FLIGHT, Stage

log = logging.getLogger("edge.gateway.store")

__all__ = ["BadRecord", "Claim", "ReadingBuffer", "StoredRow", "BufferStats"]

RESERVE_BYTES = 2 * 1024 * 1024  # disk held back for checkpoint and eviction when the disk fills up
RESERVE_SUFFIX = ".reserve"  # the reserve's file: beside the buffer's

_Row = codec.Row


class ReadingBuffer:
    """Thread-safe: the ingest thread commits, the forwarder claims and acknowledges."""

    def __init__(self, path: str | os.PathLike[str], reserve_bytes: int = RESERVE_BYTES) -> None:
        self.path = os.fspath(path)
        self._reserve = Reserve(self.path + RESERVE_SUFFIX, reserve_bytes)
        self._ratelog = RateLimitedLog(log)
        self._lock = threading.Lock()
        self.evicted_on_full: dict[str, int] = {}  # readings evicted to make room on a full disk
        self._listeners: list[Callable[[Sequence[tuple[Uplink | None, Sequence[Reading]]]], None]] = []
        self._stage = Stage()
        self.on_delivered: Callable[[], None] | None = None  # called when the broker took staged readings
        self.acks = 0  # rows and staged items the broker acknowledged: the ingest's sign that it is there
        self._db: sqlite3.Connection | None = None
        try:
            self._db, self._page_size, self._version = open_db(self.path)
            self._load_state()
            self._reserve.hold()
        except sqlite3.Error as e:
            if self._db is not None:
                self._db.close()
            raise translate(e, "opening " + self.path) from e

    def _load_state(self) -> None:
        db = self._conn()
        self._dev_ids: dict[str, int] = {}
        self._dev_euis: dict[int, str] = {}
        self._evicted: dict[str, int] = {}
        for dev_id, eui, evicted in db.execute("SELECT id, eui, evicted FROM device"):
            self._dev_ids[eui] = dev_id
            self._dev_euis[dev_id] = eui
            self._evicted[eui] = evicted
        self._pending: dict[str, int] = {}
        self._pending_rows = 0
        for dev_id, count, rows in db.execute("SELECT dev, sum(n), count(*) FROM reading GROUP BY dev"):
            self._pending[self._dev_euis[dev_id]] = count
            self._pending_rows += rows
        top = db.execute("SELECT max(id) FROM reading").fetchone()[0] or 0
        self._next_id = top + 1
        self._high = top  # rows above this id are live: they arrived after the previous claim
        self._scan = 0  # backlog scan position: rows at or below it are claimed or gone
        self._inflight: dict[int, tuple[int, str]] = {}  # row id -> (readings, device), claimed, unresolved
        self._acked: list[int] = []  # acknowledged, to delete at the next flush
        self._acked_rows: set[int] = set()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("%s is closed" % self.path)
        return self._db

    # -- ingest --------------------------------------------------------------------------------
    def stage(self, dev_eui: str, rx: float, readings: Sequence[Reading], held: bool = False) -> int:
        """Offer an uplink's readings to the forwarder before they are committed (held: only once
        `offer` is called); returns the token to pass to commit_uplinks (gateway.store.stage)."""
        with self._lock:
            return self._stage.add(dev_eui, int(rx), readings, held)

    def offer(self, tokens: Sequence[int]) -> None:
        """Let the forwarder take staged items that were held."""
        with self._lock:
            self._stage.offer(tokens)

    def take_delivered(self) -> list[int]:
        """Tokens of staged readings the broker acknowledged since the last call."""
        with self._lock:
            return self._stage.take_delivered()

    def discard(self, token: int) -> None:
        """Forget a staged item the commit refused as invalid."""
        with self._lock:
            self._stage.items.pop(token, None)

    def commit_uplinks(
        self,
        items: Sequence[tuple[Uplink | None, Sequence[Reading]]],
        tokens: Sequence[int | None] | None = None,
    ) -> None:
        """Store uplinks with their readings in one transaction; returns when it is on disk.

        An item with uplink None stores readings of local sensors (no radio metadata); its
        readings may belong to several devices. tokens (one per item, or None) name items staged
        before: those the broker already acknowledged are not written. Raises BadRecord (nothing
        stored) for an invalid item and a StoreError subclass (StoreFull, StoreReadOnly,
        StoreCorrupt, ...) when SQLite fails.

        When the disk is full, the oldest pending readings make room: the WAL is checkpointed and
        truncated, at least twice as many rows as this commit brings are evicted (counted per device,
        see evicted_on_full), and the commit is tried once more; StoreFull if that fails too.
        """
        marks: list[int | None] = list(tokens) if tokens is not None else [None] * len(items)
        staged = self._stage.items  # read without the lock: a token gone now stays gone, _commit_staged decides
        # BadRecord here changes nothing; items the broker already has are not encoded, never written
        encoded = [
            [] if t is not None and t not in staged else codec.encode_items([item], self._version)
            for item, t in zip(items, marks, strict=True)
        ]
        try:
            self._commit_staged(encoded, marks)
        except StoreFull as full:
            try:
                self.make_room(sum(map(len, encoded)))
                self._commit_staged(encoded, marks)
            except StoreError as e:
                self._ratelog.warn("no_room", "%s; %s" % (full, e))
                raise full from None
        if self._reserve.tight():
            self._keep_room()
        self._reserve.hold()
        for listener in self._listeners:
            try:
                listener(items)
            except Exception:  # an observer (health, alerts) must never undo or block a commit
                log.exception("buffer listener failed")

    def make_room(self, rows: int) -> None:
        """The disk is full: give back the reserve, checkpoint, evict at least 64 and 2 x rows of
        the oldest rows (counted in evicted_on_full), checkpoint again. StoreError if it cannot."""
        self._reserve.release()  # room for the checkpoint and the deletions
        with self._lock:
            try:
                self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as e:
                raise translate(e, "checkpointing " + self.path) from e
        evicted = self.evict(rows=max(64, 2 * rows))
        with self._lock:
            try:  # move the deletions into the database file so the WAL has room again
                self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as e:
                raise translate(e, "checkpointing " + self.path) from e
        for eui, n in evicted.items():
            self.evicted_on_full[eui] = self.evicted_on_full.get(eui, 0) + n
        self._ratelog.warn("disk_full", "under %s: evicted %d oldest readings to keep receiving"
                           % (self.path, sum(evicted.values())))  # fmt: skip

    def _keep_room(self) -> None:
        """The disk is nearly full: keep a quarter of a reserve's worth of free pages inside the
        file, evicting the oldest rows, so that new rows reuse pages and no checkpoint needs the
        file to grow (on a full disk it could not, and the WAL would grow until nothing can be
        written)."""
        with self._lock:
            try:
                db = self._conn()
                free = db.execute("PRAGMA freelist_count").fetchone()[0] * self._page_size
                want = self._reserve.size() // 4
                if free >= want or not self._pending_rows:
                    return
                per_row = max(1, self._used_bytes(db) // self._pending_rows)
            except sqlite3.Error as e:
                self._ratelog.warn("no_room", str(translate(e, "measuring " + self.path)))
                return
        try:
            evicted = self.evict(rows=(want - free) // per_row + 1)
        except StoreError as e:
            self._ratelog.warn("no_room", str(e))
            return
        for eui, n in evicted.items():
            self.evicted_on_full[eui] = self.evicted_on_full.get(eui, 0) + n
        self._ratelog.warn("disk_full", "under %s: evicted %d oldest readings to keep room for new ones"
                           % (self.path, sum(evicted.values())))  # fmt: skip

    def add_listener(self, fn: Callable[[Sequence[tuple[Uplink | None, Sequence[Reading]]]], None]) -> None:
        """Call fn(items) after each durable commit_uplinks (in the committing thread: keep it quick)."""
        self._listeners.append(fn)

    def _commit_staged(self, encoded: list[list[_Row]], marks: list[int | None]) -> int:
        """Write the items not yet delivered, in one transaction, under the lock so no PUBACK
        slips between the choice and the write; returns the rows written."""
        with self._lock:
            rows: list[_Row] = []
            owners: list[int | None] = []  # per row: the token it came from
            for item_rows, token in zip(encoded, marks, strict=True):
                if token is not None and token not in self._stage.items:
                    continue  # the broker has it: nothing to write
                rows += item_rows
                owners += [token] * len(item_rows)
            first = self._insert_locked(rows)
            for i, token in enumerate(owners):
                if token is None:
                    continue
                staged = self._stage.items.pop(token)
                if staged.state == IN_FLIGHT:  # its PUBACK or failure resolves the row now
                    self._inflight[first + i] = (rows[i][2], rows[i][0])
                    self._stage.alias[token] = first + i
            return len(rows)

    def insert_raw(self, rows: Sequence[_Row]) -> None:
        """Insert already encoded rows (dev_eui, rx, n, data, meta) in one durable transaction."""
        with self._lock:
            self._insert_locked(rows)

    def _insert_locked(self, rows: Sequence[_Row]) -> int:
        """Insert rows, acknowledged deletes riding along; returns the id of the first row."""
        first = self._next_id
        if not rows:
            return first
        db = self._conn()
        try:
            try:
                with transaction(db):
                    params = [
                        (first + i, self._device_id(db, eui), rx, n, data, meta)
                        for i, (eui, rx, n, data, meta) in enumerate(rows)
                    ]
                    # acknowledged rows ride along, deleted first: the inserts then reuse the pages
                    # the deletes freed, already written in this transaction, and the disk sees one
                    # sync instead of two (docs/gateway-forward.md, bench (c))
                    deleted = self._acked
                    db.executemany("DELETE FROM reading WHERE id = ?", ((i,) for i in deleted))
                    db.executemany("INSERT INTO reading (id, dev, rx, n, data, meta) VALUES (?,?,?,?,?,?)", params)
            except BaseException:
                self._forget_uncommitted_devices(db)
                raise
        except sqlite3.Error as e:
            raise translate(e, "storing %d rows in %s" % (len(rows), self.path)) from e
        if deleted:
            self._acked = []
            self._acked_rows.clear()
        self._next_id = first + len(rows)
        self._pending_rows += len(rows)
        for eui, _, n, _, _ in rows:
            self._pending[eui] = self._pending.get(eui, 0) + n
        return first

    def commit_local(self, readings: Sequence[Reading]) -> None:
        """Store readings of sensors attached to the gateway (same as commit_uplinks([(None, readings)]))."""
        self.commit_uplinks([(None, readings)])

    def _device_id(self, db: sqlite3.Connection, eui: str) -> int:
        dev_id = self._dev_ids.get(eui)
        if dev_id is None:
            dev_id = db.execute("INSERT INTO device (eui) VALUES (?)", (eui,)).lastrowid
            assert dev_id is not None
            self._dev_ids[eui] = dev_id
            self._dev_euis[dev_id] = eui
        return dev_id

    def _forget_uncommitted_devices(self, db: sqlite3.Connection) -> None:
        try:
            known = {eui for (eui,) in db.execute("SELECT eui FROM device")}
        except sqlite3.Error:
            return
        for eui in [e for e in self._dev_ids if e not in known]:
            self._dev_euis.pop(self._dev_ids.pop(eui), None)

    # -- forwarding ------------------------------------------------------------------------------
    def claim(self, max_readings: int) -> Claim | None:
        """Claim rows for one batch: staged readings first (not yet written, negative ids), then
        live rows (arrived since the previous claim, oldest first), then the backlog in arrival
        order (oldest first for each device). Live rows that do not fit join the backlog. Claimed
        rows stay in flight until ack() or release(). At least one row is claimed when any is
        available, even if it alone holds more than max_readings."""
        with self._lock:
            db = self._conn()
            staged, count = self._stage.take(max_readings)
            rows = [StoredRow(token, s.dev_eui, s.rx, s.readings) for token, s in staged]
            try:
                if count < max_readings and self._next_id - 1 > self._high:  # rows written since the last claim
                    count, _ = self._take(db, self._high, None, rows, count, max_readings)
                live = len(rows)
                if count < max_readings and self._scan < self._high:
                    _, self._scan = self._take(db, self._scan, self._high, rows, count, max_readings)
            except sqlite3.Error as e:
                raise translate(e, "reading the backlog of " + self.path) from e
            self._high = self._next_id - 1
            if not rows:
                return None
            return Claim(rows, live)

    def _take(self, db, after: int, upto: int | None, rows, count: int, max_readings: int) -> tuple[int, int]:
        """Append unclaimed rows with after < id <= upto to rows; returns (readings, scan position)."""
        while count < max_readings:
            limit = max(16, min(2000, max_readings - count))
            params: tuple[int, ...] = (after,) if upto is None else (after, upto)
            sql = "id > ?" if upto is None else "id > ? AND id <= ?"
            batch = db.execute(
                "SELECT id, dev, rx, n, data FROM reading WHERE %s ORDER BY id LIMIT %d" % (sql, limit), params
            ).fetchall()
            if not batch:
                return count, after if upto is None else upto
            for row_id, dev, rx, n, data in batch:
                if row_id in self._inflight or row_id in self._acked_rows:
                    after = row_id
                    continue
                if rows and count + n > max_readings:
                    return count, after  # does not fit: left for the next claim
                after = row_id
                eui = self._dev_euis[dev]
                rows.append(StoredRow(row_id, eui, rx, codec.decode_readings(rx, data)))
                self._inflight[row_id] = (n, eui)
                count += n
        return count, after

    def ack(self, ids: Iterable[int]) -> None:
        """The broker acknowledged these rows: forget them (deleted at the next flush)."""
        delivered = False
        with self._lock:
            for row_id in ids:
                self.acks += 1
                if row_id < 0:
                    alias = self._stage.ack(row_id)
                    if alias is None:
                        delivered = True
                        continue
                    row_id = alias
                entry = self._inflight.pop(row_id, None)
                if entry is None or row_id in self._acked_rows:
                    continue
                n, eui = entry
                self._acked.append(row_id)
                self._acked_rows.add(row_id)
                self._pending_rows -= 1
                self._pending[eui] = self._pending.get(eui, 0) - n
        if delivered and self.on_delivered is not None:
            self.on_delivered()

    def release(self, ids: Iterable[int]) -> None:
        """Publishing these rows failed: they become pending again and are claimed as backlog."""
        with self._lock:
            lowest = None
            for row_id in ids:
                if row_id < 0:
                    alias = self._stage.release(row_id)
                    if alias is None:
                        continue
                    row_id = alias
                if self._inflight.pop(row_id, None) is not None:
                    lowest = row_id if lowest is None else min(lowest, row_id)
            if lowest is not None:
                self._scan = min(self._scan, lowest - 1)

    def release_all(self) -> None:
        with self._lock:
            self._inflight.clear()
            self._stage.release_all()
            self._scan = 0

    def flush(self) -> int:
        """Delete the acknowledged rows in one transaction; returns how many were deleted."""
        with self._lock:
            return self._flush_locked(self._conn())

    def _flush_locked(self, db: sqlite3.Connection) -> int:
        if not self._acked:
            return 0
        ids = self._acked
        try:
            with transaction(db):
                db.executemany("DELETE FROM reading WHERE id = ?", ((i,) for i in ids))
        except sqlite3.Error as e:
            raise translate(e, "deleting %d forwarded rows from %s" % (len(ids), self.path)) from e
        self._acked = []
        self._acked_rows.clear()
        return len(ids)

    # -- capacity --------------------------------------------------------------------------------
    def evict(
        self, *, max_bytes: int | None = None, max_age_s: float | None = None, now: float | None = None, rows: int = 0
    ) -> dict[str, int]:
        """Delete the oldest pending rows that are not in flight: all received before now - max_age_s,
        then enough to bring the used bytes under max_bytes, then at least `rows` more (used when
        the disk is full). Returns readings evicted per device (also added to the persisted
        per-device eviction counters)."""
        with self._lock:
            db = self._conn()
            try:
                self._flush_locked(db)
                victims: list[tuple[int, int, int]] = []  # (id, dev, n)
                if max_age_s is not None:
                    cutoff = int((time.time() if now is None else now) - max_age_s)
                    victims += self._oldest(db, lambda rx, i: rx < cutoff)
                want = rows
                if max_bytes is not None:
                    used = self._used_bytes(db)
                    if used > max_bytes and self._pending_rows:
                        per_row = max(1, used // max(1, self._pending_rows))
                        want = max(want, (used - max_bytes) // per_row + 1)
                if want > len(victims):
                    skip = {v[0] for v in victims}
                    more = self._oldest(db, lambda rx, i: True, limit=want - len(victims), skip=skip)
                    victims += more
                if not victims:
                    return {}
                return self._delete_victims(db, victims)
            except sqlite3.Error as e:
                raise translate(e, "evicting old readings from " + self.path) from e

    def _oldest(self, db, keep_going, limit: int | None = None, skip: frozenset[int] | set[int] = frozenset()):
        out: list[tuple[int, int, int]] = []
        last = 0
        while limit is None or len(out) < limit:
            batch = db.execute(
                "SELECT id, dev, n, rx FROM reading WHERE id > ? ORDER BY id LIMIT 1000", (last,)
            ).fetchall()
            if not batch:
                break
            for row_id, dev, n, rx in batch:
                last = row_id
                if not keep_going(rx, row_id):
                    return out
                if row_id in self._inflight or row_id in skip:
                    continue
                out.append((row_id, dev, n))
                if limit is not None and len(out) >= limit:
                    return out
        return out

    def _delete_victims(self, db, victims) -> dict[str, int]:
        per_dev: dict[str, int] = {}
        for _, dev, n in victims:
            eui = self._dev_euis[dev]
            per_dev[eui] = per_dev.get(eui, 0) + n
        with transaction(db):
            db.executemany("DELETE FROM reading WHERE id = ?", ((v[0],) for v in victims))
            db.executemany(
                "UPDATE device SET evicted = evicted + ? WHERE eui = ?", ((n, eui) for eui, n in per_dev.items())
            )
        self._pending_rows -= len(victims)
        for eui, n in per_dev.items():
            self._pending[eui] = self._pending.get(eui, 0) - n
            self._evicted[eui] = self._evicted.get(eui, 0) + n
        return per_dev

    def _used_bytes(self, db) -> int:
        # pages holding data; the WAL (bounded by JOURNAL_SIZE_LIMIT after checkpoints) is apart
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self._page_size

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    # -- metrics ---------------------------------------------------------------------------------
    def stats(self) -> BufferStats:
        with self._lock:
            db = self._conn()
            try:
                oldest = db.execute("SELECT rx FROM reading ORDER BY id LIMIT 1").fetchone()
                used = self._used_bytes(db)
            except sqlite3.Error as e:
                raise translate(e, "reading statistics of " + self.path) from e
            try:
                file_bytes = os.path.getsize(self.path) + self._wal_bytes()
            except OSError:
                file_bytes = 0
            return BufferStats(
                pending_readings=sum(self._pending.values()),
                pending_rows=self._pending_rows,
                inflight_readings=sum(n for n, _ in self._inflight.values()),
                oldest_rx=oldest[0] if oldest else None,
                used_bytes=used,
                file_bytes=file_bytes,
                per_device={k: v for k, v in self._pending.items() if v},
                evicted={k: v for k, v in self._evicted.items() if v},
                staged_readings=self._stage.readings,
            )

    def uplink_of(self, row_id: int) -> Uplink | None:
        """The uplink a stored row came from (None for local readings or a row that is gone)."""
        rows = self._uplinks("SELECT dev, rx, meta FROM reading WHERE id = ?", (row_id,))
        return rows[0] if rows and rows[0] is not None else None

    def newest_uplinks(self) -> list[Uplink]:
        """Each device's newest stored uplink: its frame counter is a replay after a restart even
        when the registry's counters lag (gateway/ingest.py writes them with a delay)."""
        newest = "SELECT max(id) FROM reading WHERE meta NOT NULL GROUP BY dev"
        sql = "SELECT dev, rx, meta FROM reading WHERE id IN (%s)" % newest
        return [u for u in self._uplinks(sql, ()) if u is not None]

    def _uplinks(self, sql: str, params: tuple[int, ...]) -> list[Uplink | None]:
        with self._lock:
            try:
                rows = self._conn().execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise translate(e, "reading uplinks of " + self.path) from e
        return [
            None if meta is None else codec.decode_uplink(self._dev_euis[dev], rx, meta, self._version)
            for dev, rx, meta in rows
        ]

    @property
    def acked_unflushed(self) -> int:
        return len(self._acked)

    def close(self) -> None:
        """Delete what was acknowledged, checkpoint and close. Safe to call twice."""
        if self._db is None:
            return
        try:
            self.flush()
            with self._lock:
                self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (StoreError, sqlite3.Error):  # e.g. a full disk: the WAL stays and is read at the next open
            pass
        finally:
            with self._lock:
                if self._db is not None:
                    self._db.close()
                    self._db = None
