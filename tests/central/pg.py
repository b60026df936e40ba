"""A throwaway PostgreSQL database per test module on the machine's server (127.0.0.1:5432, trust).

Tables as the platform ingest creates them; rows from plain Python values.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

SCHEMA = """
CREATE TABLE devices (
    dev_eui text PRIMARY KEY, gateway_id text, latitude double precision, longitude double precision,
    height_m double precision, installed date, support text, photos jsonb NOT NULL DEFAULT '[]');
CREATE TABLE observations (
    dev_eui text NOT NULL, quantity text NOT NULL, t timestamptz NOT NULL, value double precision NOT NULL,
    UNIQUE (dev_eui, quantity, t));
"""


@contextmanager
def database():
    name = "edge_test_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute("CREATE DATABASE %s" % name)
    dsn = "postgresql://postgres@127.0.0.1:5432/%s" % name
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield dsn
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def insert(dsn: str, devices: list[dict], series: dict[str, dict[str, list[tuple[int, float]]]]) -> None:
    with psycopg.connect(dsn) as conn:
        for d in devices:
            conn.execute(
                "INSERT INTO devices VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (d["dev_eui"], d.get("gateway_id"), d.get("latitude"), d.get("longitude"), d.get("height_m"),
                 d.get("installed"), d.get("support"), json.dumps(d.get("photos") or [])))
        with conn.cursor().copy("COPY observations FROM STDIN") as cp:
            for eui, s in series.items():
                for q, pairs in s.items():
                    for t, v in pairs:
                        cp.write_row((eui, q, datetime.fromtimestamp(t, UTC), v))
