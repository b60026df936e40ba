"""Writes of the ingest: one transaction per batch of MQTT messages, idempotent row by row.

Values go by COPY into a temporary staging table, then into observations with INSERT ... ON
CONFLICT DO NOTHING on the (dev_eui, quantity, t) key, so a message delivered twice, or by two
gateways, stores its values once. Rows are inserted in key order, so two instances writing
overlapping batches wait for each other instead of deadlocking. Every other message kind is
idempotent too: metadata and status only add a history row when they differ from the current one,
metrics and alerts have unique keys, dead letters are unique by topic and payload hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from central.senml import Value

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS staging"
    " (dev_eui text, quantity text, t double precision, value double precision, gateway_id text)"
    " ON COMMIT DELETE ROWS"
)
_INSERT = (
    "INSERT INTO observations (dev_eui, quantity, t, value, gateway_id)"
    " SELECT dev_eui, quantity, to_timestamp(t), value, gateway_id FROM staging"
    " ORDER BY dev_eui, quantity, t ON CONFLICT DO NOTHING"
)
_DEVICES = (
    "INSERT INTO devices (dev_eui, gateway_id, last_seen, last_t)"
    " SELECT dev_eui, max(gateway_id), now(), to_timestamp(max(t)) FROM staging GROUP BY dev_eui ORDER BY dev_eui"
    " ON CONFLICT (dev_eui) DO UPDATE SET last_seen = excluded.last_seen,"
    " last_t = greatest(devices.last_t, excluded.last_t),"
    " gateway_id = CASE WHEN devices.meta_updated_at IS NULL THEN excluded.gateway_id ELSE devices.gateway_id END"
)
_GATEWAYS = (
    "INSERT INTO gateways (gateway_id) SELECT unnest(%s::text[]) AS g ORDER BY g"
    " ON CONFLICT (gateway_id) DO UPDATE SET last_seen = now()"
)
META_KEYS = ("latitude", "longitude", "height_m", "installed", "support", "photos")


@dataclass
class Batch:
    """What one transaction writes. values: (gateway_id, values of one message)."""

    values: list[tuple[str, Sequence[Value]]] = field(default_factory=list)
    dead: list[tuple[str, str | None, str, str, bytes]] = field(default_factory=list)  # topic, gw, reason, detail
    other: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # kind, gateway_id, sub, payload
    gateways: set[str] = field(default_factory=set)

    @property
    def n_values(self) -> int:
        return sum(len(v) for _, v in self.values)


def prepare(conn: psycopg.Connection) -> None:
    """Per connection: the staging table (temporary, emptied at each commit)."""
    conn.execute(_STAGING)
    conn.commit()


def write(conn: psycopg.Connection, batch: Batch) -> int:
    """Write a batch in one transaction; returns the number of new observations."""
    new = 0
    with conn.transaction():
        if batch.values:
            with conn.cursor().copy("COPY staging FROM STDIN") as cp:
                cp.write(_copy_text(batch.values))
            new = conn.execute(_INSERT).rowcount
            conn.execute(_DEVICES)
        if batch.gateways:
            conn.execute(_GATEWAYS, (sorted(batch.gateways),))
        for topic, gw, reason, detail, payload in batch.dead:
            dead_letter(conn, topic, gw, reason, detail, payload)
        for kind, gw, sub, payload in batch.other:
            try:
                _OTHER[kind](conn, gw, sub, payload)
            except _BadMessage as e:
                dead_letter(conn, "%s/%s" % (gw, kind), gw, "bad_%s" % kind, str(e), payload)
    return new


def _copy_text(values: list[tuple[str, Sequence[Value]]]) -> bytes:
    # COPY text format: tab-separated; names are hex and [a-z0-9_] (checked by senml), gateway ids
    # are topic levels, which may hold any character but "/", "+", "#": escape the COPY specials
    parts = []
    for gw, vals in values:
        g = gw.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        for eui, q, t, v in vals:
            parts.append("%s\t%s\t%r\t%r\t%s\n" % (eui, q, t, v, g))
    return "".join(parts).encode()


def dead_letter(conn: psycopg.Connection, topic: str, gw: str | None, reason: str, detail: str, payload: bytes) -> None:
    conn.execute(
        "INSERT INTO dead_letters (topic, gateway_id, reason, detail, payload, payload_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (topic, gw, reason, detail[:1000], payload, hashlib.sha256(payload).digest()),
    )


class _BadMessage(ValueError):
    pass


def _json(payload: bytes) -> dict:
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        raise _BadMessage("not JSON: %s" % e) from None
    if not isinstance(doc, dict):
        raise _BadMessage("not a JSON object")
    return doc


def _num(doc: dict, key: str) -> float | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _BadMessage("%s must be a number, got %r" % (key, v))
    return v


def _text(doc: dict, key: str) -> str | None:
    v = doc.get(key)
    if v is not None and not isinstance(v, str):
        raise _BadMessage("%s must be text, got %r" % (key, v))
    return v


def _meta(conn: psycopg.Connection, gw: str, dev_eui: str, payload: bytes) -> None:
    """Retained {root}/{gw}/devices/{dev_eui}: current metadata, and a history row when it changed."""
    from central.senml import EUI

    if not EUI.fullmatch(dev_eui):
        raise _BadMessage("topic level %r is not a dev_eui (16 lower-case hex digits)" % dev_eui)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (dev_eui,))  # one writer of a device's history
    last = conn.execute(
        "SELECT doc, removed, gateway_id FROM device_metadata WHERE dev_eui = %s ORDER BY id DESC LIMIT 1", (dev_eui,)
    ).fetchone()
    if not payload:  # empty retained message: removed from that gateway
        if last is None or last[1] or last[2] != gw:
            return
        conn.execute("INSERT INTO device_metadata (dev_eui, gateway_id, removed) VALUES (%s, %s, true)", (dev_eui, gw))
        conn.execute("UPDATE devices SET removed = true WHERE dev_eui = %s", (dev_eui,))
        return
    doc = _json(payload)
    if last is not None and not last[1] and last[0] == doc and last[2] == gw:
        return  # the retained message again (each subscribe, each instance)
    row = [_num(doc, "latitude"), _num(doc, "longitude"), _num(doc, "height_m"), _text(doc, "installed"),
           _text(doc, "support"), json.dumps(doc.get("photos") or []), _text(doc, "updated_at")]  # fmt: skip
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO device_metadata (dev_eui, gateway_id, latitude, longitude, height_m, installed, support,"
                " photos, updated_at, doc) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (dev_eui, gw, *row, json.dumps(doc)),
            )
    except (psycopg.errors.DataError, psycopg.errors.InvalidDatetimeFormat) as e:
        raise _BadMessage(str(e).strip()) from None
    conn.execute(
        "INSERT INTO devices (dev_eui, gateway_id, latitude, longitude, height_m, installed, support, photos,"
        " meta_updated_at, removed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, false)"
        " ON CONFLICT (dev_eui) DO UPDATE SET gateway_id = excluded.gateway_id, latitude = excluded.latitude,"
        " longitude = excluded.longitude, height_m = excluded.height_m, installed = excluded.installed,"
        " support = excluded.support, photos = excluded.photos, meta_updated_at = excluded.meta_updated_at,"
        " removed = false",
        (dev_eui, gw, *row),
    )


def _status(conn: psycopg.Connection, gw: str, sub: str, payload: bytes) -> None:
    doc = _json(payload)
    state, at, reason = _text(doc, "state"), _num(doc, "at"), _text(doc, "reason")
    if state not in ("online", "offline"):
        raise _BadMessage("state must be online or offline, got %r" % state)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("gw:" + gw,))
    cur = conn.execute(
        "SELECT state, extract(epoch FROM at) FROM gateway_status WHERE gateway_id = %s ORDER BY id DESC LIMIT 1", (gw,)
    ).fetchone()
    if cur is not None and cur[0] == state and (cur[1] is None and at is None or cur[1] is not None and cur[1] == at):
        return
    conn.execute(
        "INSERT INTO gateway_status (gateway_id, state, at, reason) VALUES (%s, %s, to_timestamp(%s), %s)",
        (gw, state, at, reason),
    )
    conn.execute("UPDATE gateways SET state = %s, state_at = to_timestamp(%s) WHERE gateway_id = %s", (state, at, gw))


def _metrics(conn: psycopg.Connection, gw: str, sub: str, payload: bytes) -> None:
    doc = _json(payload)
    at = _num(doc, "at")
    if at is None:
        raise _BadMessage("metrics without at")
    conn.execute(
        "INSERT INTO gateway_metrics (gateway_id, at, backlog_readings, forwarded_readings, connected, doc)"
        " VALUES (%s, to_timestamp(%s), %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (gw, at, _num(doc, "backlog_readings"), _num(doc, "forwarded_readings"), doc.get("connected") is True,
         json.dumps(doc)),
    )  # fmt: skip


def _alert(conn: psycopg.Connection, gw: str, sub: str, payload: bytes) -> None:
    doc = _json(payload)
    alert, state, at = _text(doc, "alert"), _text(doc, "state"), _num(doc, "at")
    if not alert or state not in ("raised", "cleared") or at is None:
        raise _BadMessage("an alert needs alert, state raised|cleared and at")
    conn.execute(
        "INSERT INTO gateway_alerts (gateway_id, alert, state, at, dev_eui, quantity, value, t, message, doc)"
        " VALUES (%s, %s, %s, to_timestamp(%s), %s, %s, %s, to_timestamp(%s), %s, %s) ON CONFLICT DO NOTHING",
        (gw, alert, state, at, _text(doc, "device"), _text(doc, "quantity"), _num(doc, "value"), _num(doc, "t"),
         _text(doc, "message") or "", json.dumps(doc)),
    )  # fmt: skip


_OTHER = {"devices": _meta, "status": _status, "metrics": _metrics, "alerts": _alert}
