"""``edge flash``: put the firmware bundle and a device config on a board over USB (fieldtools/flash.py)."""

import argparse
import sys

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = None


def _error(message: str, code: int) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def cmd_flash(args) -> int:
    from fieldtools.flash import ConfigInvalid, flash
    from fieldtools.link import LinkError
    from firmware.host.build import BuildError

    try:
        r = flash(args.port, args.board, args.config, timeout_s=args.timeout)
    except (ConfigInvalid, BuildError) as e:
        return _error(str(e), EXIT_USAGE)
    except LinkError as e:
        return _error(str(e), EXIT_FAILURE)
    ident = r.identity
    kb = r.bytes_written / 1024
    print("flashed %s on %s: firmware %s" % (r.board, r.port, r.version))
    print("  files: %d written (%.1f KB), %d unchanged, %d/%d verified by sha256 on the board"
          % (len(r.written), kb, r.files - len(r.written), r.verified, r.files))  # fmt: skip
    if r.removed:
        print(
            "  removed %d stale file%s: %s" % (len(r.removed), "" if len(r.removed) == 1 else "s", ", ".join(r.removed))
        )
    print("  device: node_id %s, dev_eui %s, keys written (not shown)" % (ident.get("node_id"), ident.get("dev_eui")))
    print("  board: MicroPython %s on %s, unique id %s"
          % (ident.get("micropython"), ident.get("machine"), ident.get("unique_id") or "n/a"))  # fmt: skip
    if ident.get("version") != r.version:
        found = ident.get("version")
        return _error("the board reports firmware %s, expected %s: rerun edge flash" % (found, r.version), EXIT_FAILURE)
    if not ident.get("config_ok"):
        problems = "; ".join(ident.get("config_problems", []))
        return _error("the board's firmware refuses the config: %s" % problems, EXIT_FAILURE)
    print("  config: valid on the board")
    print("next: reset the board to start the node (mpremote connect %s reset)" % r.port)
    return EXIT_OK


def register(top: argparse._SubParsersAction) -> None:
    from firmware.host.build import boards

    p = top.add_parser("flash", help="flash the firmware bundle and a device config to a board over USB")
    p.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    p.add_argument("--board", required=True, choices=boards(), help="board type (hw/boards)")
    p.add_argument("--config", required=True, help="device config, TOML, mode 0600 (it holds the LoRaWAN keys)")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for MicroPython to answer")
    p.set_defaults(func=cmd_flash)
