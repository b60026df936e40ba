"""Reads of the platform tables that the NGSI-LD views, the exports and the page need.

The only module of the standards side that knows table and column names. It reads three tables
of the platform schema (central/migrations, docs/platform-ingest.md): ``devices`` (installation
metadata, measured interval), ``observations`` (device, quantity, time, value; unique on the
first three), ``device_metadata`` (installation history) and ``platform_alerts``. Times leave this
module as unix seconds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from central.ngsi.entities import Series

DEVICE_COLUMNS = ("dev_eui", "gateway_id", "latitude", "longitude", "height_m", "installed", "support", "photos",
                  "interval_s", "removed")


class Store:
    """One PostgreSQL connection per Store, opened by the first read (so a request whose parameters
    are refused never touches the database); the server makes one Store per request."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._conn: Any = None

    def _execute(self, sql: str, args: list[Any] | tuple = ()):
        if self._conn is None:
            import psycopg

            self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        return self._conn.execute(sql, args)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def devices(self, euis: list[str] | None = None, removed: bool = False) -> list[dict[str, Any]]:
        """Devices in dev_eui order, all or those listed; those removed from their gateway only if asked."""
        sql = ("SELECT dev_eui, gateway_id, latitude, longitude, height_m, to_char(installed, 'YYYY-MM-DD'),"
               " support, photos, interval_s, removed FROM devices WHERE (%s OR NOT removed)")
        args: list[Any] = [removed]
        if euis is not None:
            sql += " AND dev_eui = ANY(%s)"
            args.append(euis)
        rows = self._execute(sql + " ORDER BY dev_eui", args).fetchall()
        out = []
        for row in rows:
            d = dict(zip(DEVICE_COLUMNS, row, strict=True))
            if isinstance(d["photos"], str):
                d["photos"] = json.loads(d["photos"])
            d["photos"] = d["photos"] or []
            out.append(d)
        return out

    def latest(self, euis: list[str] | None = None, per_quantity: int = 2) -> dict[str, Series]:
        """The last ``per_quantity`` values of each device's quantities (two: the interval between them)."""
        sql = ("SELECT dev_eui, quantity, t, value FROM ("
               " SELECT dev_eui, quantity, extract(epoch FROM t)::bigint AS t, value,"
               " row_number() OVER (PARTITION BY dev_eui, quantity ORDER BY t DESC) AS k"
               " FROM observations%s) r WHERE k <= %%s ORDER BY dev_eui, quantity, t")
        where, args = self._where(euis, None, None)
        return _series(self._execute(sql % where, [*args, per_quantity]).fetchall())

    def series(self, euis: list[str] | None, start: int | None, end: int | None,
               last_n: int | None = None) -> dict[str, Series]:
        """Values of [start, end) per device and quantity, the last ``last_n`` of each when given."""
        where, args = self._where(euis, start, end)
        if last_n is None:
            sql = ("SELECT dev_eui, quantity, extract(epoch FROM t)::bigint, value FROM observations%s"
                   " ORDER BY dev_eui, quantity, t")
            return _series(self._execute(sql % where, args).fetchall())
        sql = ("SELECT dev_eui, quantity, t, value FROM ("
               " SELECT dev_eui, quantity, extract(epoch FROM t)::bigint AS t, value,"
               " row_number() OVER (PARTITION BY dev_eui, quantity ORDER BY t DESC) AS k"
               " FROM observations%s) r WHERE k <= %%s ORDER BY dev_eui, quantity, t")
        return _series(self._execute(sql % where, [*args, last_n]).fetchall())

    def history(self, euis: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Each device's metadata changes in arrival order (the device_metadata table)."""
        sql = ("SELECT id, dev_eui, gateway_id, extract(epoch FROM received_at)::bigint, removed, latitude,"
               " longitude, height_m, to_char(installed, 'YYYY-MM-DD'), support, photos,"
               " extract(epoch FROM updated_at)::bigint FROM device_metadata%s ORDER BY dev_eui, id")
        where, args = self._where(euis, None, None)
        keys = ("id", "dev_eui", "gateway_id", "received_at", "removed", "latitude", "longitude", "height_m",
                "installed", "support", "photos", "updated_at")
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self._execute(sql % where, args).fetchall():
            out[row[1]].append(dict(zip(keys, row, strict=True)))
        return dict(out)

    def last_time(self) -> int | None:
        """The latest measurement time stored, any device (None: no observation yet)."""
        row = self._execute("SELECT extract(epoch FROM max(t))::bigint FROM observations").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def open_alerts(self) -> list[dict[str, Any]]:
        """Platform alerts raised and not cleared, newest first."""
        rows = self._execute(
            "SELECT alert, dev_eui, quantity, extract(epoch FROM raised_at)::bigint, value, message"
            " FROM platform_alerts WHERE cleared_at IS NULL ORDER BY raised_at DESC, id DESC").fetchall()
        keys = ("alert", "dev_eui", "quantity", "raised_at", "value", "message")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    @staticmethod
    def _where(euis: list[str] | None, start: int | None, end: int | None) -> tuple[str, list[Any]]:
        conds: list[str] = []
        args: list[Any] = []
        if euis is not None:
            conds.append("dev_eui = ANY(%s)")
            args.append(euis)
        if start is not None:
            conds.append("t >= to_timestamp(%s)")
            args.append(start)
        if end is not None:
            conds.append("t < to_timestamp(%s)")
            args.append(end)
        return (" WHERE " + " AND ".join(conds) if conds else ""), args


def _series(rows) -> dict[str, Series]:
    out: dict[str, Series] = defaultdict(lambda: defaultdict(list))
    for eui, q, t, v in rows:
        out[eui][q].append((int(t), float(v)))
    return {eui: dict(s) for eui, s in out.items()}
