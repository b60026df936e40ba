"""``edge gateway device meta|note|show|import|publish``: installation metadata and maintenance log.

The metadata lives in the inventory (gateway/inventory.py); keys stay in the registry. After a
change the command publishes the metadata retained on ``{root}/{gateway_id}/devices/{dev_eui}``
when [mqtt] url is set; when the broker cannot be reached the change is kept and marked
unpublished, and ``edge gateway device publish`` sends it later (and clears the topics of devices
removed with ``edge gateway device remove``). Exit 0 done, 1 saved but not published (or the
registry cannot be opened), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "gateway"

PUBLISH_TIMEOUT_S = 5.0


class _Usage(Exception):
    """Bad input: printed as one line, exit 2."""


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def _run(args: argparse.Namespace, body: Any) -> int:
    """Load the config, open the inventory, run body(cfg, inv) -> exit code; errors become one line."""
    from gateway import config
    from gateway.inventory import Inventory, InventoryError
    from gateway.registry import RegistryError

    try:
        cfg = config.load(args.config)
        with Inventory.open(cfg.data_dir) as inv:
            return int(body(cfg, inv))
    except (config.ConfigError, InventoryError, _Usage) as e:
        return _fail(str(e))
    except RegistryError as e:
        return _fail(str(e), EXIT_FAILURE)


def _need_device(cfg: Any, dev_eui: str) -> str:
    from gateway.inventory import check_dev_eui, registered_euis

    eui = check_dev_eui(dev_eui)
    if eui not in registered_euis(cfg.data_dir):
        raise _Usage(
            "device %s is not registered: add it first with `edge gateway device add --config %s --dev-eui %s ...`"
            % (eui, cfg.path, eui)
        )
    return eui


# ---- publishing ---------------------------------------------------------------------------------


def _publish_changes(cfg: Any, inv: Any, author: str, timeout: float, quiet_when_off: bool = True) -> int:
    """Sync the retained metadata with the broker; report what happened in one line or two."""
    from gateway.forward.settings import SettingsError, from_config
    from gateway.inventory import PublishError, registered_euis, sync
    from gateway.inventory.publish import Publisher

    if not cfg.mqtt.url:
        if not quiet_when_off:
            return _fail("[mqtt] url is empty, so there is no broker to publish to: set it in %s" % cfg.path)
        print("not published: [mqtt] url is empty in %s" % cfg.path)
        return EXIT_OK
    try:
        settings = from_config(cfg)
    except SettingsError as e:
        return _fail(str(e))
    try:
        pub = Publisher(settings, timeout)
        try:
            report = sync(inv, registered_euis(cfg.data_dir), cfg.gateway.id, pub.publish, author)
        finally:
            pub.close()
    except PublishError as e:
        return _fail(
            "saved but not published: %s; run `edge gateway device publish --config %s` when it is reachable"
            % (e, cfg.path),
            EXIT_FAILURE,
        )
    for eui in report.published:
        print("published %s" % settings.topic("devices/" + eui))
    for eui in report.cleared:
        print("cleared %s (device no longer registered)" % settings.topic("devices/" + eui))
    return EXIT_OK


def clear_removed(config_path: str, dev_eui: str) -> int:
    """After `edge gateway device remove`: clear the device's retained metadata now, when it had any."""
    from gateway.inventory import default_author

    def body(cfg: Any, inv: Any) -> int:
        if inv.get(dev_eui) is None:
            return EXIT_OK
        return _publish_changes(cfg, inv, default_author(), PUBLISH_TIMEOUT_S)

    return _run(argparse.Namespace(config=config_path), body)


# ---- commands -----------------------------------------------------------------------------------


def _meta_values(args: argparse.Namespace) -> dict[str, Any]:
    given = {"latitude": args.lat, "longitude": args.lon, "height_m": args.height, "installed": args.installed,
             "support": args.support, "photos": args.photo}  # fmt: skip
    return {k: v for k, v in given.items() if v is not None}


def _print_changes(changes: list[Any]) -> None:
    for c in changes:
        print("%s %s: %s -> %s" % (c.dev_eui, c.field, _show(c.old), _show(c.new)))


def _show(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def _warn(message: str | None) -> None:
    if message:
        print("warning: " + message, file=sys.stderr)


def cmd_meta(args: argparse.Namespace) -> int:
    from gateway.inventory import height_warning

    def body(cfg: Any, inv: Any) -> int:
        eui = _need_device(cfg, args.dev_eui)
        values = _meta_values(args)
        if not values:
            raise _Usage("nothing to set: give --lat, --lon, --height, --installed, --support or --photo")
        changes = inv.set(eui, values, args.author, add_photos=not args.replace_photos)
        _print_changes(changes)
        if not changes:
            print("%s unchanged" % eui)
        _warn(height_warning((inv.get(eui) or {}).get("height_m")) if "height_m" in values else None)
        return EXIT_OK if args.no_publish else _publish_changes(cfg, inv, args.author, args.timeout)

    return _run(args, body)


def cmd_note(args: argparse.Namespace) -> int:
    def body(cfg: Any, inv: Any) -> int:
        eui = _need_device(cfg, args.dev_eui)
        entry = inv.note(eui, args.text, args.author)
        print("%s %s %s: %s" % (eui, entry.when, entry.author, entry.new))
        return EXIT_OK

    return _run(args, body)


def cmd_show(args: argparse.Namespace) -> int:
    from gateway.inventory import META_FIELDS, check_dev_eui, registered_euis

    def body(cfg: Any, inv: Any) -> int:
        eui = check_dev_eui(args.dev_eui)
        registered = eui in registered_euis(cfg.data_dir)
        meta, history = inv.get(eui), inv.history(eui)
        if not registered and meta is None and not history:
            raise _Usage("device %s is not registered and has no metadata or history" % eui)
        if args.json:
            out = {"dev_eui": eui, "registered": registered, "meta": meta,
                   "history": [e.__dict__ | {"when": e.when} for e in history]}  # fmt: skip
            print(json.dumps(out, indent=1))
            return EXIT_OK
        print("device %s%s" % (eui, "" if registered else " (not registered)"))
        for k in META_FIELDS:
            print("  %-10s %s" % (k, _show(None if meta is None else meta[k])))
        print("history:")
        for e in history:
            what = e.new if e.field == "note" else "%s: %s -> %s" % (e.field, _show(e.old), _show(e.new))
            print("  %s  %-12s %s" % (e.when, e.author, "removed" if e.field == "removed" else what))
        return EXIT_OK

    return _run(args, body)


def cmd_publish(args: argparse.Namespace) -> int:
    def body(cfg: Any, inv: Any) -> int:
        code = _publish_changes(cfg, inv, args.author, args.timeout, quiet_when_off=False)
        if code == EXIT_OK:
            print("retained metadata of this gateway is up to date")
        return code

    return _run(args, body)


def cmd_import(args: argparse.Namespace) -> int:
    def body(cfg: Any, inv: Any) -> int:
        from gateway.inventory.csv_import import import_rows, read_rows
        from gateway.registry import Registry

        reg = Registry.open(cfg.data_dir)
        try:
            registered = {str(d["dev_eui"]) for d in reg.devices()}
            rows, warnings = read_rows(Path(args.file), registered)
            added, changes = import_rows(rows, reg, inv, args.author)
        finally:
            reg.close()
        for w in warnings:
            _warn(w)
        print("imported %d rows: %d devices registered, %d metadata changes" % (len(rows), added, len(changes)))
        return EXIT_OK if args.no_publish else _publish_changes(cfg, inv, args.author, args.timeout)

    return _run(args, body)


# ---- parser -------------------------------------------------------------------------------------


def _device_actions(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ACTION subparsers of `edge gateway device` (created by cli/gateway_devices.py)."""
    dev = sub.choices.get("device")
    for action in getattr(dev, "_actions", []):
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("`edge gateway device` is not registered before cli/gateway_inventory.py")


def register(sub: argparse._SubParsersAction) -> None:
    from gateway.inventory import SUPPORTS, default_author

    dsub = _device_actions(sub)
    author_help = "who made the change (default: the login name, %s)" % default_author()

    def common(p: argparse.ArgumentParser, publishes: bool, optional: bool = True) -> None:
        p.add_argument("--config", required=True, help="the agent's TOML config")
        p.add_argument("--author", default=default_author(), help=author_help)
        if publishes and optional:
            p.add_argument("--no-publish", action="store_true", help="only save; publish later")
        if publishes:
            p.add_argument("--timeout", type=float, default=PUBLISH_TIMEOUT_S,
                           help="seconds to wait for the broker (default %s)" % PUBLISH_TIMEOUT_S)  # fmt: skip

    p = dsub.add_parser("meta", help="set installation metadata (position, height, date, support, photos)")
    p.add_argument("dev_eui", metavar="DEV_EUI")
    p.add_argument("--lat", help="latitude, degrees WGS 84 (-90..90)")
    p.add_argument("--lon", help="longitude, degrees WGS 84 (-180..180)")
    p.add_argument("--height", help="mounting height above ground, m (below 3.5 m gives a warning)")
    p.add_argument("--installed", metavar="YYYY-MM-DD", help="install date")
    p.add_argument("--support", help="mounting support: %s" % ", ".join(SUPPORTS))
    p.add_argument("--photo", action="append", metavar="PATH", help="photo file (repeat for several)")
    p.add_argument("--replace-photos", action="store_true", help="--photo replaces the list instead of adding")
    common(p, publishes=True)
    p.set_defaults(func=cmd_meta)
    p = dsub.add_parser("note", help="add an entry to a device's maintenance log")
    p.add_argument("dev_eui", metavar="DEV_EUI")
    p.add_argument("text", metavar="TEXT")
    common(p, publishes=False)
    p.set_defaults(func=cmd_note)
    p = dsub.add_parser("show", help="print a device's metadata and its history")
    p.add_argument("dev_eui", metavar="DEV_EUI")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_show)
    p = dsub.add_parser("import", help="register devices and set their metadata from a CSV file (all or nothing)")
    p.add_argument("file", metavar="FILE.csv")
    common(p, publishes=True)
    p.set_defaults(func=cmd_import)
    p = dsub.add_parser("publish", help="publish unpublished metadata; clear topics of removed devices")
    common(p, publishes=True, optional=False)
    p.set_defaults(func=cmd_publish)
