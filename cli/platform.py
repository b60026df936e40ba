"""``edge platform init|db upgrade|run|query``: the central platform's ingest into PostgreSQL."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "platform"


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def _load(path: str):
    from central import config

    return config.load(path)


def cmd_init(args: argparse.Namespace) -> int:
    import tomllib

    from central import config
    from gateway.config import write as write_config

    path = Path(args.config)
    if path.exists() and not args.force:
        return _fail("%s exists; pass --force to overwrite it" % path)
    mqtt: dict[str, object] = {"url": args.mqtt_url}
    if args.client_id:
        mqtt["client_id"] = args.client_id
    text = config.render({"database": {"dsn": args.dsn}, "mqtt": mqtt})
    try:
        config.from_dict(tomllib.loads(text))  # never write a file the service would refuse
    except config.ConfigError as e:
        return _fail(str(e))
    write_config(path, text)
    print("wrote %s" % path)
    return EXIT_OK


def cmd_upgrade(args: argparse.Namespace) -> int:
    from central import config, db

    try:
        cfg = _load(args.config)
        done = db.upgrade(cfg.database.dsn)
    except config.ConfigError as e:
        return _fail(str(e))
    except db.DatabaseError as e:
        return _fail(str(e), EXIT_FAILURE)
    print("applied %s" % ", ".join(done) if done else "schema up to date")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from central import config, db
    from central.service import Service
    from gateway.forward.settings import SettingsError

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = _load(args.config)
        service = Service(cfg, client_id=args.client_id)
    except (config.ConfigError, SettingsError, OSError) as e:
        return _fail(str(e))
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    try:
        service.run()
    except db.DatabaseError as e:
        return _fail(str(e), EXIT_FAILURE)
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    from central import config, db, query

    try:
        cfg = _load(args.config)
        with db.connect(cfg.database.dsn) as conn:
            if args.what == "latest":
                rows = query.latest(conn, args.device)
            elif args.what == "series":
                if not (args.device and args.start and args.end):
                    return _fail("series needs --device, --from and --to")
                rows = query.series(conn, args.device, query.parse_time(args.start), query.parse_time(args.end),
                                    args.quantity)  # fmt: skip
            else:
                if not (args.start and args.end):
                    return _fail("gaps needs --from and --to (days, e.g. 2026-11-20)")
                start, end = query.parse_time(args.start), query.parse_time(args.end)
                rows = query.gaps(conn, start, end, args.device, cfg.checks.default_interval_s)
    except (config.ConfigError, query.QueryError) as e:
        return _fail(str(e))
    except db.DatabaseError as e:
        return _fail(str(e), EXIT_FAILURE)
    _print_rows(rows, args.format)
    return EXIT_OK


def _print_rows(rows: list[dict], fmt: str) -> None:
    import csv
    import json

    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        return
    w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a commented TOML config for the platform ingest")
    p.add_argument("--config", required=True, help="path of the config file to write")
    p.add_argument("--mqtt-url", required=True, help="broker URL, mqtt://host:1883 or mqtts://host:8883")
    p.add_argument("--dsn", required=True, help="PostgreSQL connection string, postgresql://user@host:5432/db")
    p.add_argument("--client-id", help="MQTT client id of this instance (default edge-platform-{host})")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("db", help="manage the platform database")
    dbsub = p.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    p = dbsub.add_parser("upgrade", help="create the schema or apply the migrations it lacks")
    p.add_argument("--config", required=True)
    p.set_defaults(func=cmd_upgrade)
    p = sub.add_parser("run", help="run the ingest in the foreground (SIGTERM/SIGINT stop it cleanly)")
    p.add_argument("--config", required=True)
    p.add_argument("--client-id", help="MQTT client id, overriding the config (one per instance)")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("query", help="read the platform database: latest, series or gaps (CSV or JSON)")
    p.add_argument("what", choices=("latest", "series", "gaps"),
                   help="latest: last value per device and quantity; series: a device's values between two times; "
                   "gaps: expected, arrived and missing measurement times per device and UTC day")  # fmt: skip
    p.add_argument("--config", required=True)
    p.add_argument("--device", help="dev_eui (16 hex digits); required for series")
    p.add_argument("--quantity", help="series: only this quantity")
    p.add_argument("--from", dest="start", help="start, ISO 8601 (UTC unless it says otherwise) or unix seconds")
    p.add_argument("--to", dest="end", help="end (excluded), same forms as --from")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=cmd_query)
