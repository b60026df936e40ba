"""Devices, sessions, frame counters and used DevNonces, in one SQLite file readable only by the agent.

The file holds key material, so it is created with mode 0600 and `Registry.open` refuses a file
(or data directory) that group or others can read, naming the chmod that fixes it. Keys never
appear in a repr, a log line or `edge gateway device list`.

Sessions live in memory for the ingest path (dict by DevAddr); their counters are written back
with `save_rows` at most `[ingest] counter_deadline_s` after they change (gateway.ingest). A
frame whose readings are in the buffer stays a replay after a crash all the same: at start the
agent moves each session's counter past the newest uplink the buffer holds
(`raise_up_counters`). Changes made by another process (`edge gateway device add`) are picked up
by `refresh()`.

Counter writes are appended to `counter_log` as one packed row per commit instead of updating
each device's row: a city's worth of devices spreads over many pages, and rewriting a 4 KiB page
per device per commit was most of the agent's disk writes (bench/agent_disk.py). The log is
folded into `devices` when it grows past FOLD_ROWS, at open and close, and before a device is
added, removed or joins, so the entries of an older session can never apply to a newer one.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.lorawan.crypto import check_key
from gateway.sqlite import connect, transaction
from gateway.store.reserve import wal_pages

REGISTRY_FILE = "registry.sqlite"
# FCntDown is saved as a reservation (next + this) so downlinks rarely need their own disk write;
# after a crash up to this many downlink counters are skipped, never reused.
FCNT_DOWN_RESERVE = 256
PAGE_SIZE = 512  # new files only: SQLite fixes the page size when it creates a file
FOLD_ROWS = 1000  # counter_log rows (commits) before they are folded into devices
# devices rowid, dev_addr, fcnt_up_next, fcnt_down_next, last_seq (-1: none): 20 bytes a device
_LOG_ENTRY = struct.Struct(">I4sIIi")
LoggedRow = tuple[int, int, "int | None", int, str]  # (fcnt_up_next, fcnt_down_next, last_seq, rowid, dev_addr hex)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    dev_eui        TEXT PRIMARY KEY,         -- 16 lower-case hex digits
    activation     TEXT NOT NULL CHECK (activation IN ('abp', 'otaa')),
    join_eui       TEXT,                     -- OTAA
    app_key        BLOB,                     -- OTAA root key
    dev_addr       TEXT,                     -- 8 hex digits; NULL for OTAA before its first join
    nwkskey        BLOB,
    appskey        BLOB,
    fcnt_up_next   INTEGER NOT NULL DEFAULT 0,
    fcnt_down_next INTEGER NOT NULL DEFAULT 0,
    last_seq       INTEGER,                  -- highest node payload seq seen
    join_nonce     INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dev_nonces (
    dev_eui   TEXT NOT NULL,
    dev_nonce INTEGER NOT NULL,
    used_at   REAL NOT NULL,
    PRIMARY KEY (dev_eui, dev_nonce)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter_log (      -- counter snapshots, one packed row per commit
    id   INTEGER PRIMARY KEY,
    rows BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS radio_state (      -- the network's ADR/DevStatus record of a session (gateway/netmac.py)
    dev_eui  TEXT PRIMARY KEY,
    state    TEXT NOT NULL,                   -- JSON
    saved_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (         -- operator downlinks waiting for the agent to take them
    id         INTEGER PRIMARY KEY,
    dev_eui    TEXT NOT NULL,
    fport      INTEGER NOT NULL,
    payload    BLOB NOT NULL,
    created_at REAL NOT NULL
);
"""

# (fcnt_up_next, fcnt_down_next, last_seq, dev_eui, dev_addr hex): a snapshot of one session
CounterRow = tuple[int, int, "int | None", str, str]

# NetID type -> NwkID length in bits (LoRaWAN Backend Interfaces, DevAddr prefixes).
_NWKID_BITS = (6, 6, 9, 11, 12, 13, 15, 17)


class RegistryError(Exception):
    """The registry cannot be used as asked: unsafe permissions, unknown or duplicate device."""


class DataDirError(RegistryError):
    """[storage] data_dir cannot hold the registry: a file, unreadable, or not creatable (bad input)."""


def _hexid(value: str, nbytes: int, name: str) -> str:
    v = value.lower()
    if len(v) != 2 * nbytes or any(c not in "0123456789abcdef" for c in v):
        raise RegistryError("%s must be %d hex digits" % (name, 2 * nbytes))
    return v


KEY_NAMES = ("nwkskey", "appskey", "app_key")


def parse_keys(text: str) -> dict[str, str]:
    """Keys from a file or stdin instead of the command line (where /proc and shell history show
    them): lines `name = hex` with name one of KEY_NAMES; blank lines and # comments skipped."""
    keys: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep or name.lower() not in KEY_NAMES:
            raise RegistryError("keys line %d: expected `name = hex` with name one of %s" % (n, ", ".join(KEY_NAMES)))
        keys[name.lower()] = value
    return keys


def make_data_dir(data_dir: Path) -> None:
    """Create data_dir (0700) and its missing parents (0755 whatever the umask: a group- or
    world-writable parent would let others replace the directory that holds the keys)."""
    if data_dir.exists():
        if not data_dir.is_dir():
            raise DataDirError("[storage] data_dir %s is a file, not a directory: point data_dir elsewhere" % data_dir)
        return
    missing = []
    p = data_dir
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700 if d == data_dir else 0o755)
        os.chmod(d, 0o700 if d == data_dir else 0o755)


def check_private(path: Path) -> None:
    """Refuse key files or directories that group or others can access."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise RegistryError(
            "%s has mode %04o: it holds LoRaWAN keys and must be private to the agent's user; run: chmod %s %s"
            % (path, mode, "700" if path.is_dir() else "600", path)
        )


@dataclass
class Session:
    """A device's active LoRaWAN session and its counters (mutated by the ingest path)."""

    dev_eui: str
    dev_addr: bytes  # display order
    nwkskey: bytes = field(repr=False)
    appskey: bytes = field(repr=False)
    fcnt_up_next: int = 0
    fcnt_down_next: int = 0
    last_seq: int | None = None
    fcnt_down_saved: int = 0  # what the file holds: FCntDown values below it may have been used
    last_phy: bytes = field(default=b"", repr=False)  # the last accepted uplink (memory only): its NbTrans repetitions

    def reserve_down(self) -> bool:
        """Reserve a block of FCntDown values when the next one is not covered by the file; True
        when the session must be saved before its next downlink goes out."""
        if self.fcnt_down_next < self.fcnt_down_saved:
            return False
        self.fcnt_down_saved = self.fcnt_down_next + FCNT_DOWN_RESERVE
        return True


@dataclass(frozen=True)
class OtaaDevice:
    dev_eui: str
    join_eui: str
    app_key: bytes = field(repr=False)


class Registry:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._lock = threading.RLock()  # the group-commit thread saves counters on this connection too
        self._by_addr: dict[bytes, list[Session]] = {}
        self._by_eui: dict[str, Session] = {}
        self._otaa: dict[str, OtaaDevice] = {}
        self._data_version = -1
        self._rowids: dict[str, int] = {}  # dev_eui -> devices rowid, for the counter log
        try:
            self.fold()  # what an earlier run logged, before the sessions are loaded
            folded = True
        except sqlite3.OperationalError:  # a full disk: the log stays, applied in memory below
            folded = False
        self.refresh()
        if not folded:
            self._apply_log()

    def _apply_log(self) -> None:
        """Raise the loaded sessions' counters to what the counter log holds, without writing."""
        by_rowid = {rowid: self._by_eui.get(eui) for eui, rowid in self._rowids.items()}
        with self._lock:
            logged = self._log_rows()
        for up, down, seq, rowid, addr in logged:
            s = by_rowid.get(rowid)
            if s is not None and s.dev_addr.hex() == addr:
                s.fcnt_up_next = max(s.fcnt_up_next, up)
                s.fcnt_down_next = max(s.fcnt_down_next, down)
                s.fcnt_down_saved = max(s.fcnt_down_saved, down)
                s.last_seq = seq

    @classmethod
    def open(cls, data_dir: Path) -> Registry:
        """Open (or create, mode 0600 in a 0700 directory) the registry of a data directory.
        DataDirError when data_dir cannot be one (a file, unreadable, not creatable)."""
        data_dir = Path(data_dir)
        try:
            make_data_dir(data_dir)
            return cls._open(data_dir)
        except (OSError, ValueError) as e:  # ValueError: a NUL in the path
            why = getattr(e, "strerror", None) or e
            raise DataDirError("data directory %s cannot be used: %s" % (data_dir, why)) from None

    @classmethod
    def _open(cls, data_dir: Path) -> Registry:
        check_private(data_dir)
        path = data_dir / REGISTRY_FILE
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        check_private(path)
        # a new file gets small pages: a counter-log commit then writes ~0.5 KiB frames, not 4 KiB ones;
        # synchronous=FULL: a counter once accepted survives a power cut; SQLite's default checkpoint at
        # 1000 pages, less on a small disk (gateway/store/reserve.py)
        pragmas = ["page_size=%d" % PAGE_SIZE, "journal_mode=WAL", "synchronous=FULL",
                   "wal_autocheckpoint=%d" % wal_pages(str(data_dir), PAGE_SIZE, 1000)]  # fmt: skip
        conn = connect(path, pragmas)
        conn.executescript(_SCHEMA)
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            try:
                self.fold()
            except sqlite3.Error:
                pass  # the log stays and is folded at the next open
            self._db.close()

    # ---- provisioning (the CLI) -----------------------------------------------------------------

    def add_abp(self, dev_eui: str, dev_addr: str, nwkskey: bytes, appskey: bytes) -> None:
        dev_eui, dev_addr = _hexid(dev_eui, 8, "DevEUI"), _hexid(dev_addr, 4, "DevAddr")
        check_key(nwkskey, "NwkSKey")
        check_key(appskey, "AppSKey")
        self._insert(
            "INSERT INTO devices (dev_eui, activation, dev_addr, nwkskey, appskey, created_at) VALUES (?,?,?,?,?,?)",
            (dev_eui, "abp", dev_addr, nwkskey, appskey, time.time()),
            dev_eui,
        )

    def add_otaa(self, dev_eui: str, join_eui: str, app_key: bytes) -> None:
        dev_eui, join_eui = _hexid(dev_eui, 8, "DevEUI"), _hexid(join_eui, 8, "JoinEUI")
        check_key(app_key, "AppKey")
        self._insert(
            "INSERT INTO devices (dev_eui, activation, join_eui, app_key, created_at) VALUES (?,?,?,?,?)",
            (dev_eui, "otaa", join_eui, app_key, time.time()),
            dev_eui,
        )

    def _insert(self, sql: str, params: tuple[object, ...], dev_eui: str) -> None:
        try:
            with self._tx():
                self._fold_locked()  # log entries of an earlier device with this DevEUI apply to nothing
                self._db.execute(sql, params)
        except sqlite3.IntegrityError:
            raise RegistryError("device %s is already registered; remove it first" % dev_eui) from None
        self.refresh()

    def remove(self, dev_eui: str) -> bool:
        dev_eui = _hexid(dev_eui, 8, "DevEUI")
        with self._tx():
            self._fold_locked()
            n = self._db.execute("DELETE FROM devices WHERE dev_eui = ?", (dev_eui,)).rowcount
            self._db.execute("DELETE FROM dev_nonces WHERE dev_eui = ?", (dev_eui,))
            self._db.execute("DELETE FROM commands WHERE dev_eui = ?", (dev_eui,))
            self._db.execute("DELETE FROM radio_state WHERE dev_eui = ?", (dev_eui,))
        self.refresh()
        return n > 0

    def devices(self) -> list[dict[str, object]]:
        """Every device without its keys, for listings."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, dev_eui, activation, join_eui, dev_addr, fcnt_up_next, fcnt_down_next, last_seq"
                " FROM devices ORDER BY dev_eui"
            ).fetchall()
            logged = self._log_rows()
        keys = ("dev_eui", "activation", "join_eui", "dev_addr", "fcnt_up_next", "fcnt_down_next", "last_seq")
        latest = {rowid: (addr, up, down, seq) for up, down, seq, rowid, addr in logged}  # later entries win
        out = []
        for rowid, eui, activation, join_eui, addr, up, down, seq in rows:
            o = latest.get(rowid)
            if o is not None and o[0] == addr:  # what the running agent logged since the last fold
                up, down, seq = max(up, o[1]), max(down, o[2]), o[3]
            out.append(dict(zip(keys, (eui, activation, join_eui, addr, up, down, seq), strict=True)))
        return out

    def queue_command(self, dev_eui: str, fport: int, payload: bytes) -> None:
        """Leave a downlink for the running agent (``edge gateway device command``)."""
        dev_eui = _hexid(dev_eui, 8, "DevEUI")
        if not 1 <= fport <= 223:
            raise RegistryError("FPort must be 1..223")
        with self._tx():
            if self._db.execute("SELECT 1 FROM devices WHERE dev_eui = ?", (dev_eui,)).fetchone() is None:
                raise RegistryError("device %s is not registered" % dev_eui)
            self._db.execute(
                "INSERT INTO commands (dev_eui, fport, payload, created_at) VALUES (?,?,?,?)",
                (dev_eui, fport, payload, time.time()),
            )

    def take_commands(self) -> list[tuple[str, int, bytes]]:
        """The waiting operator downlinks, oldest first, removed from the file as they are taken."""
        with self._tx():
            rows = self._db.execute("SELECT id, dev_eui, fport, payload FROM commands ORDER BY id").fetchall()
            if rows:
                self._db.execute("DELETE FROM commands WHERE id <= ?", (rows[-1][0],))
        return [(eui, fport, bytes(data)) for _, eui, fport, data in rows]

    # ---- the ingest path ------------------------------------------------------------------------

    def sessions_for(self, dev_addr: bytes) -> list[Session]:
        return self._by_addr.get(dev_addr, [])

    def session(self, dev_eui: str) -> Session | None:
        return self._by_eui.get(dev_eui)

    def sessions(self) -> list[Session]:
        return list(self._by_eui.values())

    def otaa_device(self, dev_eui: str) -> OtaaDevice | None:
        return self._otaa.get(dev_eui)

    @staticmethod
    def counter_rows(sessions: Iterable[Session]) -> list[CounterRow]:
        """A snapshot of the sessions' counters, to save now or on the commit thread."""
        rows = []
        for s in sessions:
            rows.append(
                (s.fcnt_up_next, max(s.fcnt_down_saved, s.fcnt_down_next), s.last_seq, s.dev_eui, s.dev_addr.hex())
            )
        return rows

    def save_counters(self, sessions: Iterable[Session]) -> None:
        """Write the counters of the given sessions in one durable transaction."""
        self.save_rows(self.counter_rows(sessions))

    def save_rows(self, rows: list[CounterRow]) -> None:
        """Write counter snapshots. Snapshots are taken on one thread and written on another, so an
        older one may come last: counters never go back, and a snapshot of a session that a new
        join replaced (another DevAddr) changes nothing."""
        if not rows:
            return
        with self._tx():
            packed = b"".join(
                _LOG_ENTRY.pack(self._rowid(eui), bytes.fromhex(addr), up, down, -1 if seq is None else seq)
                for up, down, seq, eui, addr in rows
            )
            n = self._db.execute("INSERT INTO counter_log (rows) VALUES (?)", (packed,)).lastrowid or 0
            if n % FOLD_ROWS == 0:
                self._fold_locked()

    def fold(self) -> None:
        """Apply the counter log to the devices table and empty it, in one transaction."""
        with self._tx():
            self._fold_locked()

    def _fold_locked(self) -> None:
        rows = self._log_rows()
        self._db.executemany(
            "UPDATE devices SET fcnt_up_next = max(fcnt_up_next, ?), fcnt_down_next = max(fcnt_down_next, ?),"
            " last_seq = ? WHERE rowid = ? AND dev_addr = ?",
            rows,
        )
        self._db.execute("DELETE FROM counter_log")

    def _log_rows(self) -> list[LoggedRow]:
        """The logged snapshots, oldest first (later ones win)."""
        out: list[LoggedRow] = []
        for (blob,) in self._db.execute("SELECT rows FROM counter_log ORDER BY id"):
            for rowid, addr, up, down, seq in _LOG_ENTRY.iter_unpack(blob):
                out.append((up, down, None if seq < 0 else seq, rowid, addr.hex()))
        return out

    def _rowid(self, dev_eui: str) -> int:
        rowid = self._rowids.get(dev_eui)
        if rowid is None:  # added since the last refresh; a removed device logs under 0, applied to nothing
            row = self._db.execute("SELECT rowid FROM devices WHERE dev_eui = ?", (dev_eui,)).fetchone()
            rowid = row[0] if row else 0
        return rowid

    def raise_up_counters(self, newest: Iterable[tuple[str, str, int]]) -> int:
        """Make each (dev_eui, dev_addr hex, FCnt) a used counter of its session, if the session still
        has that DevAddr, in one write; at start, from the uplinks the buffer holds. Returns how
        many sessions moved."""
        moved = []
        for eui, addr, fcnt in newest:
            s = self._by_eui.get(eui)
            if s is not None and s.dev_addr.hex() == addr and fcnt >= s.fcnt_up_next:
                s.fcnt_up_next = fcnt + 1
                moved.append(s)
        self.save_counters(moved)
        return len(moved)

    def reserve_all(self) -> int:
        """Reserve a block of FCntDown values for every session whose next downlink is not covered,
        in one write (at start and after new devices arrive), so first downlinks need no write of
        their own in the RX window. Call on the ingest thread. Returns the sessions written."""
        due = [s for s in self._by_eui.values() if s.fcnt_down_next >= s.fcnt_down_saved]
        for s in due:
            s.reserve_down()
        self.save_counters(due)
        return len(due)

    def accept_join(self, dev_eui: str, dev_nonce: int, net_id: int) -> tuple[int, bytes] | None:
        """Record a DevNonce and reserve a JoinNonce and DevAddr; None when the DevNonce was used before.

        Returns (join_nonce, dev_addr). Call `activate` once the session keys are derived.
        """
        with self._tx():
            try:
                self._db.execute(
                    "INSERT INTO dev_nonces (dev_eui, dev_nonce, used_at) VALUES (?,?,?)",
                    (dev_eui, dev_nonce, time.time()),
                )
            except sqlite3.IntegrityError:
                return None
            row = self._db.execute("SELECT join_nonce FROM devices WHERE dev_eui = ?", (dev_eui,)).fetchone()
            join_nonce = (row[0] + 1) & 0xFFFFFF
            self._db.execute("UPDATE devices SET join_nonce = ? WHERE dev_eui = ?", (join_nonce, dev_eui))
        return join_nonce, self._new_dev_addr(net_id)

    def activate(self, dev_eui: str, dev_addr: bytes, nwkskey: bytes, appskey: bytes) -> Session:
        """Install a fresh OTAA session (counters from zero), durably, and index it."""
        old = self._by_eui.get(dev_eui)
        last_seq = old.last_seq if old else None
        with self._tx():
            self._fold_locked()
            self._db.execute(
                "UPDATE devices SET dev_addr = ?, nwkskey = ?, appskey = ?, fcnt_up_next = 0, fcnt_down_next = 0"
                " WHERE dev_eui = ?",
                (dev_addr.hex(), nwkskey, appskey, dev_eui),
            )
            self._db.execute("DELETE FROM radio_state WHERE dev_eui = ?", (dev_eui,))  # a new session starts afresh
        self._unindex(dev_eui)
        s = Session(dev_eui, dev_addr, nwkskey, appskey, 0, 0, last_seq)
        self._index(s)
        return s

    # ---- the network's radio record of each session (gateway/netmac.py) ---------------------------

    def radio_states(self) -> dict[str, str]:
        """dev_eui -> the JSON NetworkMAC saved for its current session."""
        with self._lock:
            return dict(self._db.execute("SELECT dev_eui, state FROM radio_state").fetchall())

    def save_radio_states(self, states: dict[str, str]) -> None:
        """Replace the saved records of these devices, in one transaction (devices no longer
        registered are skipped)."""
        if not states:
            return
        now = time.time()
        with self._tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO radio_state (dev_eui, state, saved_at)"
                " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM devices WHERE dev_eui = ?)",
                [(eui, st, now, eui) for eui, st in states.items()],
            )

    def _new_dev_addr(self, net_id: int) -> bytes:
        ntype = net_id >> 21
        nwkid_bits = _NWKID_BITS[ntype]
        prefix_bits = ntype + 1 + nwkid_bits
        prefix = (((1 << ntype) - 1) << 1 << nwkid_bits) | (net_id & ((1 << nwkid_bits) - 1))
        for _ in range(1000):
            addr = (prefix << (32 - prefix_bits)) | secrets.randbits(32 - prefix_bits)
            b = addr.to_bytes(4, "big")
            if b not in self._by_addr:
                return b
        raise RegistryError("no free DevAddr found for NetID %06x" % net_id)

    # ---- in-memory index ------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload devices when another connection changed the file; True when it did.

        In-memory counters that are ahead of the file (not yet saved) are kept.
        """
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return False
            self._data_version = version
            rows = self._db.execute(
                "SELECT rowid, dev_eui, activation, join_eui, app_key, dev_addr, nwkskey, appskey,"
                " fcnt_up_next, fcnt_down_next, last_seq FROM devices"
            ).fetchall()
        old = self._by_eui
        self._by_addr, self._by_eui, self._otaa = {}, {}, {}
        self._rowids = {r[1]: r[0] for r in rows}
        for _, eui, activation, join_eui, app_key, addr, nwk, app, up, down, last_seq in rows:
            if activation == "otaa":
                self._otaa[eui] = OtaaDevice(eui, join_eui, bytes(app_key))
            if addr is None or nwk is None:
                continue
            s = Session(eui, bytes.fromhex(addr), bytes(nwk), bytes(app), up, down, last_seq, down)
            prev = old.get(eui)
            if prev is not None and prev.dev_addr == s.dev_addr and prev.nwkskey == s.nwkskey:
                s = prev  # keep the live object and its unsaved counters
                # the file's FCntDown is a reservation ceiling (reserve_down): the live next one stays
                s.fcnt_up_next = max(s.fcnt_up_next, up)
                s.fcnt_down_saved = max(s.fcnt_down_saved, down)
            self._index(s)
        return True

    def _index(self, s: Session) -> None:
        self._by_eui[s.dev_eui] = s
        self._by_addr.setdefault(s.dev_addr, []).append(s)

    def _unindex(self, dev_eui: str) -> None:
        s = self._by_eui.pop(dev_eui, None)
        if s is not None:
            lst = self._by_addr.get(s.dev_addr, [])
            if s in lst:
                lst.remove(s)
            if not lst:
                self._by_addr.pop(s.dev_addr, None)

    def _tx(self) -> transaction:
        return transaction(self._db, self._lock)
