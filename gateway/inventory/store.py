"""Installation metadata of the gateway's devices: where and how each one hangs, and its upkeep.

One SQLite file, ``inventory.sqlite`` in the agent's data directory, apart from the registry (it
holds no keys, but lives beside it with the same 0600 mode). Two tables:

- ``meta``: the current metadata per DevEUI (latitude, longitude, mounting height, install date,
  mounting support, photo paths) and the hash of the last payload the broker confirmed;
- ``history``: append-only (triggers refuse UPDATE and DELETE), one row per changed field, per
  maintenance note and per removal, each with its UTC time and author.

Every rule for a field lives in ``FIELDS`` below (`check_field`); the CLI, the CSV import
(gateway/inventory/csv_import.py) and the interactive prompts all go through it. Publishing is in
gateway/inventory/publish.py.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.sqlite import connect, transaction

INVENTORY_FILE = "inventory.sqlite"
# Mountings lower than this invite vandalism (the smart-city programmes' installation guidance).
MIN_SAFE_HEIGHT_M = 3.5
SUPPORTS = ("lamp-post", "wall", "pole", "mast", "rooftop", "traffic-signal", "bridge", "other")
# Fields in the order they are shown, stored and published.
META_FIELDS = ("latitude", "longitude", "height_m", "installed", "support", "photos")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    dev_eui        TEXT PRIMARY KEY,   -- 16 lower-case hex digits
    latitude       REAL,               -- WGS 84 degrees
    longitude      REAL,
    height_m       REAL,               -- mounting height above ground
    installed      TEXT,               -- YYYY-MM-DD
    support        TEXT,               -- one of SUPPORTS
    photos         TEXT NOT NULL DEFAULT '[]',  -- JSON list of absolute paths
    updated_at     REAL NOT NULL,
    updated_by     TEXT NOT NULL,
    published_hash TEXT                -- sha256 of the payload the broker last confirmed
);
CREATE TABLE IF NOT EXISTS history (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    dev_eui TEXT NOT NULL,
    at      REAL NOT NULL,             -- Unix time, UTC
    author  TEXT NOT NULL,
    field   TEXT NOT NULL,             -- a META_FIELDS name, 'note' or 'removed'
    old     TEXT,                      -- JSON
    new     TEXT                       -- JSON (the note's text for 'note')
);
CREATE INDEX IF NOT EXISTS history_dev ON history (dev_eui, id);
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
"""


class InventoryError(ValueError):
    """Metadata that cannot be stored as given; the message names the field and the fix."""


# ---- field rules: one place each --------------------------------------------------------------


def _number(name: str, lo: float, hi: float, unit: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InventoryError("%s %r is not a number: give %s in %s" % (name, value, name, unit)) from None
        if not lo <= v <= hi:
            raise InventoryError(
                "%s %s is out of range: give %s between %s and %s %s" % (name, value, name, lo, hi, unit)
            )
        return v

    return check


def _date(value: Any) -> str:
    try:
        d = datetime.date.fromisoformat(str(value))
    except ValueError:
        raise InventoryError("installed %r is not a date: write it as YYYY-MM-DD, e.g. 2026-03-14" % value) from None
    if d > datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1):
        raise InventoryError("installed %s is in the future: give the day the device was mounted" % d)
    return d.isoformat()


def _support(value: Any) -> str:
    v = str(value).strip().lower().replace("_", "-").replace(" ", "-")
    if v not in SUPPORTS:
        raise InventoryError("support %r is not known: use one of %s" % (value, ", ".join(SUPPORTS)))
    return v


def _photos(value: Any) -> list[str]:
    paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    out = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_file():
            raise InventoryError("photo %s does not exist: give the path of an existing image file" % p)
        out.append(str(path.resolve()))
    return out


FIELDS: dict[str, Callable[[Any], Any]] = {
    "latitude": _number("latitude", -90.0, 90.0, "degrees (WGS 84)"),
    "longitude": _number("longitude", -180.0, 180.0, "degrees (WGS 84)"),
    "height_m": _number("height_m", 0.0, 200.0, "metres above ground"),
    "installed": _date,
    "support": _support,
    "photos": _photos,
}


def check_field(name: str, value: Any) -> Any:
    """The stored form of one field's value, or InventoryError naming the field and the fix."""
    return FIELDS[name](value)


def height_warning(height_m: float | None) -> str | None:
    if height_m is not None and height_m < MIN_SAFE_HEIGHT_M:
        return "mounting height %.2f m is below %.1f m: the programmes advise mounting higher against vandalism" % (
            height_m,
            MIN_SAFE_HEIGHT_M,
        )
    return None


def check_dev_eui(value: str) -> str:
    v = value.strip().lower()
    if len(v) != 16 or any(c not in "0123456789abcdef" for c in v):
        raise InventoryError("DevEUI %r must be 16 hex digits, e.g. 70b3d57ed0000001" % value)
    return v


def registered_euis(data_dir: Path) -> set[str]:
    """The DevEUIs the key registry of a data directory holds (RegistryError when it cannot be opened)."""
    from gateway.registry import Registry

    reg = Registry.open(data_dir)
    try:
        return {str(d["dev_eui"]) for d in reg.devices()}
    finally:
        reg.close()


def default_author() -> str:
    """Who made a change when no --author is given: the login name."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in a bare container
        return "uid-%d" % os.getuid()


@dataclass(frozen=True)
class Change:
    dev_eui: str
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Entry:
    """One history row."""

    at: float
    author: str
    field: str
    old: Any
    new: Any

    @property
    def when(self) -> str:
        return datetime.datetime.fromtimestamp(self.at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


class Inventory:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        self.path = path

    @classmethod
    def open(cls, data_dir: Path) -> Inventory:
        """Open (or create, mode 0600, in a 0700 directory) the inventory of a data directory."""
        data_dir = Path(data_dir)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = data_dir / INVENTORY_FILE
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = connect(path, ["journal_mode=WAL"])
        conn.executescript(_SCHEMA)
        return cls(conn, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading --------------------------------------------------------------------------------

    def get(self, dev_eui: str) -> dict[str, Any] | None:
        """The metadata of a device (all META_FIELDS, None when unset), or None when it has none."""
        row = self._db.execute(
            "SELECT %s, updated_at, updated_by FROM meta WHERE dev_eui = ?" % ", ".join(META_FIELDS),
            (check_dev_eui(dev_eui),),
        ).fetchone()
        if row is None:
            return None
        out = dict(zip(META_FIELDS, row[: len(META_FIELDS)], strict=True))
        out["photos"] = json.loads(out["photos"])
        out["updated_at"], out["updated_by"] = row[len(META_FIELDS)], row[len(META_FIELDS) + 1]
        return out

    def dev_euis(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT dev_eui FROM meta ORDER BY dev_eui")]

    def history(self, dev_eui: str) -> list[Entry]:
        rows = self._db.execute(
            "SELECT at, author, field, old, new FROM history WHERE dev_eui = ? ORDER BY id", (check_dev_eui(dev_eui),)
        )
        return [Entry(at, au, f, None if o is None else json.loads(o), None if n is None else json.loads(n))
                for at, au, f, o, n in rows]  # fmt: skip

    # ---- changing -------------------------------------------------------------------------------

    def set(self, dev_eui: str, values: dict[str, Any], author: str, add_photos: bool = True) -> list[Change]:
        """Validate and store some fields of one device; photos are added to the list (or replace
        it with add_photos=False). Returns what changed; unchanged values record nothing."""
        return self.set_many([(dev_eui, values)], author, add_photos)

    def set_many(
        self, rows: Iterable[tuple[str, dict[str, Any]]], author: str, add_photos: bool = True
    ) -> list[Change]:
        """Like `set` for several devices in one transaction: all are stored or none."""
        author = author.strip()
        if not author:
            raise InventoryError("author is empty: give --author NAME")
        checked = []
        for dev_eui, values in rows:
            unknown = set(values) - set(META_FIELDS)
            if unknown:
                raise InventoryError("unknown field %s: use %s" % (sorted(unknown)[0], ", ".join(META_FIELDS)))
            checked.append((check_dev_eui(dev_eui), {k: check_field(k, v) for k, v in values.items()}))
        now = time.time()
        changes: list[Change] = []
        with self._tx():
            for eui, values in checked:
                current: dict[str, Any] = self.get(eui) or dict.fromkeys(META_FIELDS)
                had: list[str] = current["photos"] or []
                current["photos"] = had
                new = dict(current)
                for k, v in values.items():
                    if k == "photos" and add_photos:
                        v = had + [p for p in v if p not in had]
                    new[k] = v
                diff = [Change(eui, k, current[k], new[k]) for k in META_FIELDS if new[k] != current[k]]
                if not diff and self.get(eui) is not None:
                    continue
                self._db.execute(
                    "INSERT INTO meta (dev_eui, %s, updated_at, updated_by) VALUES (?, %s, ?, ?) "
                    "ON CONFLICT (dev_eui) DO UPDATE SET %s, updated_at = excluded.updated_at, "
                    "updated_by = excluded.updated_by"
                    % (
                        ", ".join(META_FIELDS),
                        ", ".join("?" * len(META_FIELDS)),
                        ", ".join("%s = excluded.%s" % (k, k) for k in META_FIELDS),
                    ),  # fmt: skip
                    (eui, *[json.dumps(new[k]) if k == "photos" else new[k] for k in META_FIELDS], now, author),
                )
                for c in diff:
                    self._record(eui, now, author, c.field, c.old, c.new)
                changes += diff
        return changes

    def note(self, dev_eui: str, text: str, author: str) -> Entry:
        """Append a maintenance note to a device's log."""
        eui = check_dev_eui(dev_eui)
        text, author = text.strip(), author.strip()
        if not text:
            raise InventoryError('the note is empty: write what was done, e.g. "replaced the antenna"')
        if not author:
            raise InventoryError("author is empty: give --author NAME")
        now = time.time()
        with self._tx():
            self._record(eui, now, author, "note", None, text)
        return Entry(now, author, "note", None, text)

    def forget(self, dev_eui: str, author: str) -> bool:
        """Drop a device's metadata (its history stays); True when it had any."""
        eui = check_dev_eui(dev_eui)
        with self._tx():
            gone = self._db.execute("DELETE FROM meta WHERE dev_eui = ?", (eui,)).rowcount > 0
            if gone:
                self._record(eui, time.time(), author, "removed", None, None)
        return gone

    def published_hash(self, dev_eui: str) -> str | None:
        row = self._db.execute("SELECT published_hash FROM meta WHERE dev_eui = ?", (check_dev_eui(dev_eui),))
        found = row.fetchone()
        return None if found is None else found[0]

    def mark_published(self, dev_eui: str, digest: str) -> None:
        self._db.execute("UPDATE meta SET published_hash = ? WHERE dev_eui = ?", (digest, check_dev_eui(dev_eui)))

    def _record(self, eui: str, at: float, author: str, fname: str, old: Any, new: Any) -> None:
        self._db.execute(
            "INSERT INTO history (dev_eui, at, author, field, old, new) VALUES (?, ?, ?, ?, ?, ?)",
            (eui, at, author, fname, _json(old), _json(new)),
        )

    def _tx(self) -> transaction:
        return transaction(self._db)
