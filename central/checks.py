"""Platform-level checks on the stored data: silent devices, missing intervals, values out of range or stuck.

`run(conn, now, settings)` evaluates every condition at time `now` (unix seconds; a virtual clock in
tests and the simulator), records raised and cleared alerts in platform_alerts (one row per
occurrence: raised_at, then cleared_at) and returns the transitions as JSON-ready dicts for
``{root}/platform/alerts``. It works on measurement times, so a backlog that arrives late fills the
gaps it explains and clears the alerts it caused. One instance at a time runs it (advisory lock).

- device_silent: no value of the device for max(silent_min_s, silent_intervals x its interval),
  whatever gateway may have heard it: the platform sees every gateway's data.
- missing_data: in the last missing_window_s, at least missing_min of the device's measurement times
  are missing. Expected times run from the first time seen in the window to one interval before now
  (or the last time seen, when later).
- out_of_range: the latest value of a quantity is outside its valid range (edge/vocab.py).
- stuck_value: the last stuck_count values of a quantity are equal (counts excepted: a street is
  often empty at night).
The interval of a device is measured as the median step between its distinct measurement times in
the window (at least MIN_STEPS steps), else default_interval_s; it is kept in devices.interval_s.
"""

from __future__ import annotations

from typing import Any

import psycopg

from central.config import ChecksSection
from edge import vocab

_LOCK = 0x65646766  # pg_advisory_xact_lock key of the checks
MIN_STEPS = 3
COUNTERS = ("count_in", "count_out")
_RANGES = ", ".join("('%s', %r, %r)" % (q[0], q[6], q[7]) for q in vocab.QUANTITIES)

_INTERVALS = """
WITH d AS (SELECT DISTINCT dev_eui, t FROM observations
           WHERE t > to_timestamp(%(since)s) AND t <= to_timestamp(%(now)s)),
g AS (SELECT dev_eui, extract(epoch FROM t - lag(t) OVER (PARTITION BY dev_eui ORDER BY t)) AS dt FROM d)
SELECT dev_eui, percentile_disc(0.5) WITHIN GROUP (ORDER BY dt) FROM g WHERE dt > 0 GROUP BY dev_eui
HAVING count(*) >= %(min_steps)s
"""
_ARRIVED = """
SELECT dev_eui, count(DISTINCT t), extract(epoch FROM min(t)), extract(epoch FROM max(t)) FROM observations
WHERE t > to_timestamp(%(since)s) AND t <= to_timestamp(%(now)s) GROUP BY dev_eui
"""
_LATEST = (
    """
SELECT DISTINCT ON (o.dev_eui, o.quantity) o.dev_eui, o.quantity, o.value, extract(epoch FROM o.t), r.lo, r.hi
FROM observations o JOIN (VALUES %s) AS r(q, lo, hi) ON r.q = o.quantity
WHERE o.t > to_timestamp(%%(since)s) AND o.t <= to_timestamp(%%(now)s)
ORDER BY o.dev_eui, o.quantity, o.t DESC
"""
    % _RANGES
)
_STUCK = """
SELECT dev_eui, quantity, min(value), extract(epoch FROM max(t)) FROM (
  SELECT dev_eui, quantity, value, t, row_number() OVER (PARTITION BY dev_eui, quantity ORDER BY t DESC) AS k
  FROM observations WHERE t > to_timestamp(%(since)s) AND t <= to_timestamp(%(now)s)
    AND quantity <> ALL(%(counters)s)
) r WHERE k <= %(n)s GROUP BY dev_eui, quantity HAVING count(*) = %(n)s AND min(value) = max(value)
"""

Key = tuple[str, str, str]  # alert, dev_eui, quantity ('' for the whole device)


def run(conn: psycopg.Connection, now: float, s: ChecksSection) -> list[dict[str, Any]]:
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,)).fetchone()[0]:  # type: ignore[index]
            return []  # another instance is checking
        found = conditions(conn, now, s)
        return _transitions(conn, now, found)


def measure_intervals(conn: psycopg.Connection, since: float, now: float) -> dict[str, int]:
    """dev_eui -> median step between its distinct measurement times in (since, now], s."""
    p = {"now": now, "since": since, "min_steps": MIN_STEPS}
    return {eui: int(step) for eui, step in conn.execute(_INTERVALS, p).fetchall()}


def conditions(conn: psycopg.Connection, now: float, s: ChecksSection) -> dict[Key, dict[str, Any]]:
    p = {"now": now, "since": now - s.missing_window_s, "min_steps": MIN_STEPS}
    for eui, step in measure_intervals(conn, now - s.missing_window_s, now).items():
        conn.execute("UPDATE devices SET interval_s = %s WHERE dev_eui = %s", (step, eui))
    devices = conn.execute(
        "SELECT dev_eui, coalesce(interval_s, %s), extract(epoch FROM last_t) FROM devices"
        " WHERE NOT removed AND last_t IS NOT NULL",
        (s.default_interval_s,),
    ).fetchall()
    arrived = {r[0]: (r[1], float(r[2]), float(r[3])) for r in conn.execute(_ARRIVED, p).fetchall()}
    found: dict[Key, dict[str, Any]] = {}
    for eui, interval, last_t in devices:
        last_t = float(last_t)
        silent_after = max(s.silent_min_s, s.silent_intervals * interval)
        if now - last_t > silent_after:
            found[("device_silent", eui, "")] = {
                "t": int(last_t),
                "message": "no data from %s on any gateway for %d s (interval %d s)" % (eui, now - last_t, interval),
            }
        n, first, last = arrived.get(eui, (0, None, None))
        if first is not None and last is not None:
            end = max(now - interval, last)  # the reading of the current interval may not be due yet
            expected = int((end - first) // interval) + 1 if end >= first else 0
            missing = expected - n
            if missing >= s.missing_min:
                found[("missing_data", eui, "")] = {
                    "count": missing,
                    "message": "%d of %d expected measurement times of %s missing in the last %d s"
                    % (missing, expected, eui, s.missing_window_s),
                }
    for eui, q, value, t, lo, hi in conn.execute(_LATEST, p).fetchall():
        if not lo <= value <= hi:
            found[("out_of_range", eui, q)] = {
                "value": value,
                "t": int(t),
                "message": "%s of %s is %s, outside %s..%s" % (q, eui, value, lo, hi),
            }
    stuck = dict(p, counters=list(COUNTERS), n=s.stuck_count)
    for eui, q, value, t in conn.execute(_STUCK, stuck).fetchall():
        found[("stuck_value", eui, q)] = {
            "value": value,
            "t": int(t),
            "message": "%s of %s has been %s for the last %d values" % (q, eui, value, s.stuck_count),
        }
    return found


def _transitions(conn: psycopg.Connection, now: float, found: dict[Key, dict[str, Any]]) -> list[dict[str, Any]]:
    open_ = {
        (r[1], r[2], r[3]): r[0]
        for r in conn.execute("SELECT id, alert, dev_eui, quantity FROM platform_alerts WHERE cleared_at IS NULL")
    }
    events = []
    for key in sorted(found.keys() - open_.keys()):
        d = found[key]
        conn.execute(
            "INSERT INTO platform_alerts (alert, dev_eui, quantity, raised_at, value, t, message)"
            " VALUES (%s, %s, %s, to_timestamp(%s), %s, to_timestamp(%s), %s)",
            (*key, now, d.get("value"), d.get("t"), d["message"]),
        )
        events.append(_event(key, "raised", now, d))
    for key in sorted(open_.keys() - found.keys()):
        conn.execute("UPDATE platform_alerts SET cleared_at = to_timestamp(%s) WHERE id = %s", (now, open_[key]))
        events.append(_event(key, "cleared", now, {"message": "%s of %s %s cleared" % (key[0], key[1], key[2])}))
    return events


def _event(key: Key, state: str, now: float, d: dict[str, Any]) -> dict[str, Any]:
    """The message on {root}/platform/alerts: the shape of a gateway's alerts (docs/platform.md)."""
    ev: dict[str, Any] = {"alert": key[0], "state": state, "at": int(now), "device": key[1]}
    if key[2]:
        ev["quantity"] = key[2]
    for k in ("value", "t", "count"):
        if k in d:
            ev[k] = d[k]
    ev["message"] = d["message"].strip()
    return ev
