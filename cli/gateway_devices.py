"""``edge gateway device add|list|remove``: the agent's device registry (keys stay in its 0600 file)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "gateway"


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def _key(text: str, name: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("%s is not hexadecimal" % name) from None
    if len(key) != 16:
        raise ValueError("%s must be 32 hex digits (16 bytes)" % name)
    return key


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from gateway import config
    from gateway.registry import Registry

    cfg = config.load(args.config)
    return Registry.open(cfg.data_dir)


def _with_registry(args: argparse.Namespace, use: Callable[[Any], int]) -> int:
    """Open the agent's registry, run use(registry) -> exit code, close it.

    A config that does not load is bad input (2); a registry that cannot be opened is a failure
    (1); use() maps the errors of its own operation.
    """
    from gateway import config
    from gateway.registry import DataDirError, RegistryError

    try:
        reg = _open(args)
    except (config.ConfigError, DataDirError) as e:
        return _fail(str(e))
    except RegistryError as e:
        return _fail(str(e), EXIT_FAILURE)
    try:
        return use(reg)
    finally:
        reg.close()


def cmd_add(args: argparse.Namespace) -> int:
    from gateway.registry import RegistryError, parse_keys

    if args.keys_file:
        try:
            text = sys.stdin.read() if args.keys_file == "-" else Path(args.keys_file).read_text(encoding="utf-8")
            for name, value in parse_keys(text).items():
                setattr(args, name, getattr(args, name) or value)
        except (OSError, UnicodeDecodeError) as e:
            return _fail("cannot read keys from %s: %s" % (args.keys_file, getattr(e, "strerror", None) or e))
        except RegistryError as e:
            return _fail(str(e))
    try:
        if args.abp:
            if not (args.dev_addr and args.nwkskey and args.appskey):
                return _fail("--abp needs --dev-addr, --nwkskey and --appskey")
            keys = (_key(args.nwkskey, "--nwkskey"), _key(args.appskey, "--appskey"))
        else:
            if not (args.join_eui and args.app_key):
                return _fail("--otaa needs --join-eui and --app-key")
            app_key = _key(args.app_key, "--app-key")
    except ValueError as e:
        return _fail(str(e))

    def use(reg: Any) -> int:
        try:
            if args.abp:
                reg.add_abp(args.dev_eui, args.dev_addr, *keys)
            else:
                reg.add_otaa(args.dev_eui, args.join_eui, app_key)
        except RegistryError as e:
            return _fail(str(e))
        print("added %s (%s)" % (args.dev_eui.lower(), "ABP" if args.abp else "OTAA"))
        return EXIT_OK

    return _with_registry(args, use)


def cmd_list(args: argparse.Namespace) -> int:
    devices: list[dict[str, Any]] = []

    def use(reg: Any) -> int:
        devices.extend(reg.devices())
        return EXIT_OK

    code = _with_registry(args, use)
    if code != EXIT_OK:
        return code
    from gateway import config
    from gateway.netmac import device_status

    status = device_status(config.load(args.config).data_dir)
    for d in devices:
        d["status"] = status.get(d["dev_eui"])  # last DevStatusAns: battery, margin_db, at
    if args.json:
        print(json.dumps(devices, indent=1))
        return EXIT_OK
    print("%-16s  %-5s  %-8s  %10s  %10s  %7s  %6s" % ("dev_eui", "mode", "dev_addr", "fcnt_up", "last_seq",
                                                     "battery", "margin"))  # fmt: skip
    for d in devices:
        last = "-" if d["last_seq"] is None else d["last_seq"]
        st = d["status"] or {}
        print(
            "%-16s  %-5s  %-8s  %10s  %10s  %7s  %6s"
            % (d["dev_eui"], d["activation"], d["dev_addr"] or "-", d["fcnt_up_next"], last,
               st.get("battery", "-"), "-" if st.get("margin_db") is None else "%d dB" % st["margin_db"])
        )  # fmt: skip
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    from gateway.registry import RegistryError

    def use(reg: Any) -> int:
        try:
            found = reg.remove(args.dev_eui)
        except RegistryError as e:
            return _fail(str(e), EXIT_FAILURE)
        if not found:
            return _fail("device %s is not registered" % args.dev_eui, EXIT_FAILURE)
        return EXIT_OK

    code = _with_registry(args, use)
    if code != EXIT_OK:
        return code
    print("removed %s" % args.dev_eui.lower())
    from cli.gateway_inventory import clear_removed

    return clear_removed(args.config, args.dev_eui.lower())


def cmd_command(args: argparse.Namespace) -> int:
    import time

    from edge import downlink
    from gateway.registry import RegistryError

    name, values = args.name, args.args
    try:
        numbers = [int(v, 0) for v in values]
    except ValueError:
        return _fail("command arguments must be integers")
    if name == "time_sync":
        numbers = numbers or [int(time.time())]
    try:
        data = downlink.encode([(name, *numbers)])
    except downlink.DownlinkError as e:
        return _fail("%s: %s" % (type(e).__name__, e))

    def use(reg: Any) -> int:
        try:
            reg.queue_command(args.dev_eui, downlink.FPORT_COMMAND, data)
        except RegistryError as e:
            return _fail(str(e))
        print("queued %s for %s (%s): sent after its next uplink" % (name, args.dev_eui.lower(), data.hex()))
        return EXIT_OK

    return _with_registry(args, use)


def register(sub: argparse._SubParsersAction) -> None:
    dev = sub.add_parser("device", help="register, list and remove LoRaWAN devices")
    dsub = dev.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    p = dsub.add_parser("add", help="register a device (ABP session keys or OTAA root key)")
    p.add_argument("--config", required=True)
    p.add_argument("--dev-eui", required=True, help="DevEUI, 16 hex digits")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--abp", action="store_true", help="activation by personalisation")
    mode.add_argument("--otaa", action="store_true", help="over-the-air activation")
    p.add_argument("--dev-addr", help="ABP: DevAddr, 8 hex digits")
    p.add_argument("--nwkskey", help="ABP: network session key, 32 hex digits")
    p.add_argument("--appskey", help="ABP: application session key, 32 hex digits")
    p.add_argument("--join-eui", help="OTAA: JoinEUI (AppEUI), 16 hex digits")
    p.add_argument("--app-key", help="OTAA: AppKey, 32 hex digits")
    p.add_argument("--keys-file", help="read the keys from this file (- for stdin), lines `nwkskey = HEX`, "
                   "`appskey = HEX` or `app_key = HEX`: kept out of /proc and the shell history")  # fmt: skip
    p.set_defaults(func=cmd_add)
    p = dsub.add_parser("list", help="list registered devices (never their keys)")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = dsub.add_parser("command", help="queue a node command (docs/downlink.md) for the device's next RX window")
    p.add_argument("--config", required=True)
    p.add_argument("--dev-eui", required=True)
    p.add_argument("name", choices=["set_interval", "time_sync", "reboot", "resend", "ack"])
    p.add_argument("args", nargs="*", help="set_interval SECONDS | resend FIRST COUNT | ack SEQ | time_sync [UNIX]")
    p.set_defaults(func=cmd_command)
    p = dsub.add_parser("remove", help="forget a device and its session")
    p.add_argument("--config", required=True)
    p.add_argument("--dev-eui", required=True)
    p.set_defaults(func=cmd_remove)
