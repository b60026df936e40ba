"""Platform checks on a virtual clock: raised and cleared as rows, returned as alert messages."""

from __future__ import annotations

import pytest

from central import checks, db, store
from central.config import ChecksSection
from tests.platform import pgdb

T0 = 1763800000
STEP = 300
S = ChecksSection()  # defaults: silent after 3 intervals (>= 900 s), 3 missing in 6 h, stuck after 12
A, B, C, D = ("70b3d57ed000000%d" % i for i in range(1, 5))


def write(conn, eui: str, quantity: str, points: list[tuple[int, float]]) -> None:
    b = store.Batch(values=[("lamp-1", [(eui, quantity, float(t), v) for t, v in points])], gateways={"lamp-1"})
    store.write(conn, b)


def times(n: int, skip: range = range(0)) -> list[int]:
    return [T0 + STEP * i for i in range(n) if i not in skip]


@pytest.fixture
def conn():
    with pgdb.database() as dsn, db.connect(dsn) as c:
        store.prepare(c)
        yield c


def keys(events):
    return [(e["alert"], e["state"], e["device"], e.get("quantity", "")) for e in events]


def test_alerts_raised_and_cleared_on_a_virtual_clock(conn):
    write(conn, A, "pm2_5", [(t, 10 + (t // STEP) % 7) for t in times(51)])
    write(conn, B, "pm2_5", [(t, 10 + (t // STEP) % 7) for t in times(51, skip=range(20, 25))])
    write(conn, C, "pm2_5", [(t, 10 + (t // STEP) % 7) for t in times(39)] + [(t, 42.0) for t in times(51)[39:]])
    write(conn, C, "count_in", [(t, 0.0) for t in times(51)])  # an empty street at night: not stuck
    write(conn, D, "temperature", [(t, 20.0 + (t // STEP) % 3) for t in times(50)] + [(times(51)[50], 150.0)])
    now = times(51)[-1] + 10
    ev = checks.run(conn, now, S)
    assert keys(ev) == [
        ("missing_data", "raised", B, ""),
        ("out_of_range", "raised", D, "temperature"),
        ("stuck_value", "raised", C, "pm2_5"),
    ]
    assert ev[0]["count"] == 5 and ev[1]["value"] == 150.0 and ev[2]["value"] == 42.0
    assert all(e["at"] == int(now) for e in ev)
    assert checks.run(conn, now + 60, S) == []  # nothing new: nothing sent again
    intervals = conn.execute("SELECT dev_eui, interval_s FROM devices ORDER BY 1").fetchall()
    assert intervals == [(A, STEP), (B, STEP), (C, STEP), (D, STEP)]

    later = times(51)[-1] + 3 * STEP + 1  # three intervals without data: every device is silent
    assert sorted(keys(checks.run(conn, later, S))) == [("device_silent", "raised", e, "") for e in (A, B, C, D)]

    write(conn, A, "pm2_5", [(t, 11.0) for t in times(55)[51:]])  # A speaks again
    write(conn, B, "pm2_5", [(t, 12.0) for t in times(25)[20:]])  # B's gap arrives late, from a backlog
    write(conn, C, "pm2_5", [(times(52)[51], 43.0)])
    write(conn, D, "temperature", [(times(52)[51], 21.0)])
    ev = checks.run(conn, later + 1, S)
    assert sorted(keys(ev)) == [
        ("device_silent", "cleared", A, ""),
        ("device_silent", "cleared", C, ""),
        ("device_silent", "cleared", D, ""),
        ("missing_data", "cleared", B, ""),
        ("out_of_range", "cleared", D, "temperature"),
        ("stuck_value", "cleared", C, "pm2_5"),
    ]
    rows = conn.execute(
        "SELECT alert, dev_eui, extract(epoch FROM raised_at)::bigint, extract(epoch FROM cleared_at)::bigint"
        " FROM platform_alerts WHERE alert = 'missing_data'"
    ).fetchall()
    assert rows == [("missing_data", B, now, later + 1)]
    assert conn.execute("SELECT count(*) FROM platform_alerts WHERE cleared_at IS NULL").fetchone()[0] == 1  # B silent
