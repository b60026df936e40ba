"""A throwaway database on the machine's PostgreSQL (127.0.0.1:5432, trust auth), schema applied."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from central import db

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def database(upgrade: bool = True) -> Iterator[str]:
    name = "edge_platform_test_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute("CREATE DATABASE %s" % name)
    dsn = "postgresql://postgres@127.0.0.1:5432/%s" % name
    try:
        if upgrade:
            db.upgrade(dsn)
        yield dsn
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def rows(dsn: str, sql: str, *args: object) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args or None).fetchall()
