"""What `edge platform query` answers: last reading per device, a device's series, gaps per device and day.

Rows are dicts with times as ISO 8601 UTC text, ready for CSV or JSON. Times given by a user are
ISO 8601 (a date means its UTC midnight) or unix seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from central.checks import measure_intervals
from edge import vocab

UTC = dt.UTC
DAY = 86400


class QueryError(ValueError):
    """A query argument that cannot be used; the message says what is expected."""


def parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError("%r is not a time: use 2026-11-22, 2026-11-22T08:00:00Z or unix seconds" % text) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unit(q: str) -> str:
    return vocab.BY_NAME[q][1] if q in vocab.BY_NAME else ""


def latest(conn: psycopg.Connection, device: str | None = None) -> list[dict[str, Any]]:
    """The last value of every quantity of every device (or of one)."""
    rows = conn.execute(
        "SELECT d.dev_eui, d.gateway_id, o.quantity, extract(epoch FROM o.t), o.value FROM devices d"
        " CROSS JOIN LATERAL (SELECT DISTINCT ON (quantity) quantity, t, value FROM observations"
        "  WHERE dev_eui = d.dev_eui ORDER BY quantity, t DESC) o"
        " WHERE %s::text IS NULL OR d.dev_eui = %s ORDER BY d.dev_eui, o.quantity",
        (device, device),
    ).fetchall()
    return [
        {"dev_eui": e, "gateway_id": g, "quantity": q, "t": iso(float(t)), "value": v, "unit": _unit(q)}
        for e, g, q, t, v in rows
    ]


def series(
    conn: psycopg.Connection, device: str, start: float, end: float, quantity: str | None = None
) -> list[dict[str, Any]]:
    """Every value of a device with start <= t < end, in time order."""
    if end <= start:
        raise QueryError("the end must be after the start")
    rows = conn.execute(
        "SELECT quantity, extract(epoch FROM t), value FROM observations WHERE dev_eui = %s"
        " AND t >= to_timestamp(%s) AND t < to_timestamp(%s) AND (%s::text IS NULL OR quantity = %s)"
        " ORDER BY t, quantity",
        (device, start, end, quantity, quantity),
    ).fetchall()
    return [{"dev_eui": device, "quantity": q, "t": iso(float(t)), "value": v, "unit": _unit(q)} for q, t, v in rows]


def gaps(
    conn: psycopg.Connection, start: float, end: float, device: str | None = None, default_interval_s: int = 300
) -> list[dict[str, Any]]:
    """Per device and UTC day in [start, end): measurement times expected, arrived and missing.

    Expected times run at the device's interval (devices.interval_s as the checks measured it,
    else measured now over the range, else default_interval_s) from its first to its last time
    in the range, so a day before a sensor was installed counts nothing missing."""
    if end <= start:
        raise QueryError("the end must be after the start")
    start = start - start % DAY
    rows = conn.execute(
        "SELECT dev_eui, floor(extract(epoch FROM t) / 86400)::bigint, count(DISTINCT t),"
        " extract(epoch FROM min(t)), extract(epoch FROM max(t)) FROM observations"
        " WHERE t >= to_timestamp(%s) AND t < to_timestamp(%s) AND (%s::text IS NULL OR dev_eui = %s)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        (start, end, device, device),
    ).fetchall()
    stored: dict[str, int] = dict(
        conn.execute("SELECT dev_eui, interval_s FROM devices WHERE interval_s IS NOT NULL").fetchall()
    )
    measured = measure_intervals(conn, start, end)
    span: dict[str, tuple[float, float]] = {}
    for eui, _, _, lo, hi in rows:
        a, b = span.get(eui, (float(lo), float(hi)))
        span[eui] = (min(a, float(lo)), max(b, float(hi)))
    by_day = {(eui, day): n for eui, day, n, _, _ in rows}
    out = []
    for eui in sorted(span):
        interval = stored.get(eui) or measured.get(eui) or default_interval_s
        first, last = span[eui]
        day = int(first // DAY)
        while day * DAY <= last:
            lo = max(first, day * DAY)
            hi = min(last, (day + 1) * DAY - 1)
            # slots of the device's grid (first + k * interval) that fall in this day
            k_lo = -(-(lo - first) // interval)
            k_hi = (hi - first) // interval
            expected = int(max(0, k_hi - k_lo + 1))
            arrived = by_day.get((eui, day), 0)
            out.append({
                "dev_eui": eui, "day": iso(day * DAY)[:10], "interval_s": interval, "expected": expected,
                "arrived": arrived, "missing": max(0, expected - arrived),
            })  # fmt: skip
            day += 1
    return out
