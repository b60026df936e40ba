"""The platform database: connecting, and the schema migrations of central/migrations/.

Migrations are SQL files named NNNN_what.sql, applied in order, each in its own transaction, and
recorded in schema_migrations; `upgrade` applies the missing ones under an advisory lock, so two
instances started together do not both apply one. When the TimescaleDB extension is available,
observations becomes a hypertable on t (its unique key already holds t, as Timescale requires).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK = 0x65646765  # pg_advisory_lock key of schema upgrades ("edge")


class DatabaseError(RuntimeError):
    """The database cannot be reached or used; the message says what to check."""


def connect(dsn: str, *, autocommit: bool = False, name: str = "edge-platform") -> psycopg.Connection:
    """name: application_name, shown in pg_stat_activity (the MQTT client id of an instance)."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10, application_name=name[:63])
    except psycopg.OperationalError as e:
        raise DatabaseError("cannot connect to %s: %s" % (_safe(dsn), str(e).strip())) from None


def _safe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(dsn)
    if u.password is None:
        return dsn
    netloc = "%s:***@%s" % (u.username or "", u.hostname or "") + (":%d" % u.port if u.port else "")
    return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    out = []
    for p in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        out.append((int(p.name[:4]), p.stem, p.read_text()))
    return out


def applied(conn: psycopg.Connection) -> list[int]:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:  # type: ignore[index]
        return []
    return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def upgrade(dsn: str) -> list[str]:
    """Apply the migrations the database lacks; returns the names applied (empty: up to date)."""
    done: list[str] = []
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            have = set(applied(conn))
            for version, name, sql in migrations():
                if version in have:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    if version == 1:
                        _hypertable(conn)
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                done.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    return done


def _hypertable(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if row is None:
        return  # plain PostgreSQL: observations stays a plain table
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    conn.execute("SELECT create_hypertable('observations', 't', migrate_data => true)")


def require_schema(conn: psycopg.Connection) -> None:
    """Refuse to run against a database whose schema is missing or older than this code."""
    want = {v for v, _, _ in migrations()}
    missing = sorted(want - set(applied(conn)))
    if missing:
        raise DatabaseError(
            "the database lacks schema migrations %s: run `edge platform db upgrade --config PATH`"
            % ", ".join("%04d" % v for v in missing)
        )
