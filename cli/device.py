"""``edge device logs``: download a node's datalog over USB (fieldtools/logs.py)."""

import argparse
import sys
from pathlib import Path

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "device"
FORMATS = ("csv", "senml-json")


def cmd_logs(args) -> int:
    from fieldtools.link import LinkError
    from fieldtools.logs import read, write

    out = Path(args.out)
    fmt = args.format or ("senml-json" if out.suffix.lower() == ".json" else "csv")
    if args.first is not None and args.last is not None and args.first > args.last:
        print("error: --from %d is after --to %d" % (args.first, args.last), file=sys.stderr)
        return EXIT_USAGE
    if not out.parent.is_dir():
        print("error: no directory %s for --out: create it first" % out.parent, file=sys.stderr)
        return EXIT_USAGE
    try:
        d = read(args.port, args.first, args.last, timeout_s=args.timeout)
    except LinkError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    write(d, out, fmt)
    span = "seq %d..%d" % (d.readings[0]["seq"], d.readings[-1]["seq"]) if d.readings else "nothing in range"
    print("%s (dev_eui %s): %d readings, %s, written to %s as %s"
          % (d.node_id, d.dev_eui, len(d.readings), span, out, fmt))  # fmt: skip
    if d.last >= d.first:
        print("  the log holds seq %d..%d; the gateway confirmed up to %d" % (d.first, d.last, d.acked))
    else:
        print("  the log on the board is empty")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help="download the node's datalog over USB as CSV or SenML-JSON")
    p.add_argument("--port", required=True, help="serial port of the board")
    p.add_argument("--out", required=True, help="output file (.csv, or .json for SenML-JSON)")
    p.add_argument("--format", choices=FORMATS, help="csv or senml-json (default: from the --out suffix)")
    p.add_argument("--from", dest="first", type=int, help="first sequence number (default: the oldest held)")
    p.add_argument("--to", dest="last", type=int, help="last sequence number (default: the newest)")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for MicroPython to answer")
    p.set_defaults(func=cmd_logs)
