"""A throwaway PostgreSQL database on the machine's server (127.0.0.1:5432, trust auth), with the
platform's schema applied by its own migrations (central/db.py); rows from plain Python values.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg

from central.db import upgrade

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

@contextmanager
def database():
    name = "edge_test_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute("CREATE DATABASE %s" % name)
    dsn = "postgresql://postgres@127.0.0.1:5432/%s" % name
    try:
        upgrade(dsn)
        yield dsn
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def insert(dsn: str, devices: list[dict], series: dict[str, dict[str, list[tuple[int, float]]]]) -> None:
    with psycopg.connect(dsn) as conn:
        for d in devices:
            conn.execute(
                "INSERT INTO devices (dev_eui, gateway_id, latitude, longitude, height_m, installed, support, photos,"
                " removed, interval_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (d["dev_eui"], d.get("gateway_id"), d.get("latitude"), d.get("longitude"), d.get("height_m"),
                 d.get("installed"), d.get("support"), json.dumps(d.get("photos") or []), d.get("removed", False),
                 d.get("interval_s")))
        gateway = {d["dev_eui"]: d.get("gateway_id") or "gw" for d in devices}
        with conn.cursor().copy("COPY observations (dev_eui, quantity, t, value, gateway_id) FROM STDIN") as cp:
            for eui, s in series.items():
                for q, pairs in s.items():
                    for t, v in pairs:
                        cp.write_row((eui, q, datetime.fromtimestamp(t, UTC), v, gateway.get(eui, "gw")))


def alert(dsn: str, alert: str, dev_eui: str, quantity: str, raised_at: int, message: str,
          cleared_at: int | None = None) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO platform_alerts (alert, dev_eui, quantity, raised_at, cleared_at, message)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (alert, dev_eui, quantity, datetime.fromtimestamp(raised_at, UTC),
             None if cleared_at is None else datetime.fromtimestamp(cleared_at, UTC), message))


@contextmanager
def serving(dsn: str, page: bool = False, **config):
    """The NGSI-LD server (and the page, if asked) on a free loopback port, in a thread."""
    from central.ngsi.server import NgsiServer, ServeConfig
    from central.web import page_routes

    cfg = ServeConfig(dsn=dsn, bind="127.0.0.1:0", **config)
    if page:
        cfg.page = page_routes(cfg, "Europe/Paris")
    srv = NgsiServer(cfg)
    srv.start_background()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def metadata(dsn: str, dev_eui: str, changes: list[dict]) -> None:
    """Rows of device_metadata (the installation history), in order."""
    with psycopg.connect(dsn) as conn:
        for c in changes:
            conn.execute(
                "INSERT INTO device_metadata (dev_eui, gateway_id, removed, latitude, longitude, height_m, support,"
                " photos, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (dev_eui, c.get("gateway_id", "lamp-7"), c.get("removed", False), c.get("latitude"),
                 c.get("longitude"), c.get("height_m"), c.get("support"), json.dumps(c.get("photos") or []),
                 datetime.fromtimestamp(c["at"], UTC)))
