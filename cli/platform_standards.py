"""``edge platform serve|export|csource``: the platform's data in open standards.

serve: the NGSI-LD read API (and the web page) on [ngsi] bind, default 127.0.0.1:1026.
export: a data package (csv), the sensors (geojson) or the entities (ngsi-ld) of a time range.
csource: prints the Context Source registration to post to a city's NGSI-LD broker.
Exit 0 done, 1 failure (database unreachable), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "platform"


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def _settings(args: argparse.Namespace):
    from central.ngsi import settings

    return settings.load(args.config, getattr(args, "bind", None))


def _serve(args: argparse.Namespace) -> int:
    from central.ngsi.server import NgsiServer
    from central.ngsi.settings import SettingsError
    from central.web import page_routes

    try:
        s = _settings(args)
        s.serve.page = page_routes(s.serve, s.timezone)
        srv = NgsiServer(s.serve)
    except SettingsError as e:
        return _fail(str(e))
    except OSError as e:
        return _fail("cannot listen on %s: %s" % (args.bind or "the configured address", e.strerror), EXIT_FAILURE)
    print("NGSI-LD API on %s/ngsi-ld/v1/entities, page on %s/" % (srv.url, srv.url), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return EXIT_OK


def _local_time(text: str, tz: str, name: str) -> int:
    """A date (local midnight) or an ISO 8601 date-time (local time if it has no zone) as unix seconds."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("--%s: not a date or ISO 8601 date-time: %r" % (name, text)) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return int(dt.timestamp())


def _export(args: argparse.Namespace) -> int:
    import psycopg

    from central.export import export
    from central.ngsi.settings import SettingsError
    from central.ngsi.store import Store

    try:
        s = _settings(args)
        start = _local_time(args.start, s.timezone, "from")
        end = _local_time(args.end, s.timezone, "to")
        if end <= start:
            return _fail("--to must be after --from")
        with Store(s.serve.dsn) as store:
            files = export(store, start, end, args.format, args.out, s.timezone, s.serve.options)
    except (SettingsError, ValueError) as e:
        return _fail(str(e))
    except psycopg.OperationalError as e:
        return _fail("database: %s" % str(e).strip().splitlines()[0], EXIT_FAILURE)
    for f in files:
        print(f)
    return EXIT_OK


def _csource(args: argparse.Namespace) -> int:
    from central.ngsi.registration import registration
    from central.ngsi.settings import SettingsError

    try:
        s = _settings(args)
    except SettingsError as e:
        return _fail(str(e))
    endpoint = args.endpoint or "http://" + s.serve.bind
    print(json.dumps(registration(endpoint, args.name, s.serve.token), indent=2))
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    p = sub.add_parser("serve", help="serve the NGSI-LD read API and the web page")
    p.add_argument("--config", required=True, help="platform config (TOML) with [database] dsn and [ngsi]")
    p.add_argument("--bind", help="HOST:PORT, overrides [ngsi] bind (default 127.0.0.1:1026)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("export", help="export a time range as open data (csv data package, geojson, ngsi-ld)")
    p.add_argument("--config", required=True)
    p.add_argument("--from", dest="start", required=True, help="date or ISO 8601 date-time (local time if no zone)")
    p.add_argument("--to", dest="end", required=True, help="end, exclusive")
    p.add_argument("--format", choices=("csv", "geojson", "ngsi-ld"), default="csv")
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.set_defaults(func=_export)

    p = sub.add_parser("csource", help="print the csourceRegistration for a city's NGSI-LD broker")
    p.add_argument("--config", required=True)
    p.add_argument("--endpoint", help="URL the city's broker reaches this API at (default http://<bind>)")
    p.add_argument(
        "--name", default="edge", help="registration name (its id is urn:ngsi-ld:ContextSourceRegistration:NAME)"
    )
    p.set_defaults(func=_csource)
