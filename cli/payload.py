"""``edge payload encode|decode|demo``: the node payload on the command line, for technicians and the platform."""

import json
import sys

from cli.main import EXIT_OK, EXIT_USAGE
from edge import payload

GROUP = "payload"


def _ref(args):
    if args.ref_seq is None and args.ref_t is None:
        return None
    if args.ref_seq is None or args.ref_t is None:
        raise payload.RefError("give both --ref-seq and --ref-t")
    return {"seq": args.ref_seq, "t": args.ref_t}


def _arg_or_stdin(value):
    return sys.stdin.read() if value == "-" else value


def _fail(message):
    print("error: " + message, file=sys.stderr)
    return EXIT_USAGE


def cmd_decode(args):
    text = "".join(_arg_or_stdin(args.hex).split())
    try:
        data = bytes.fromhex(text)
    except ValueError:
        return _fail("not hexadecimal: %r" % text[:40])
    try:
        readings = payload.decode(data, _ref(args))
    except payload.PayloadError as e:
        return _fail("%s: %s" % (type(e).__name__, e))
    print(json.dumps(readings, indent=None if args.compact else 1))
    return EXIT_OK


def cmd_encode(args):
    try:
        readings = json.loads(_arg_or_stdin(args.json))
    except json.JSONDecodeError as e:
        return _fail("not JSON: %s" % e)
    if not isinstance(readings, (dict, list)):
        return _fail("expected a reading object or a list of them")
    try:
        print(payload.encode(readings, _ref(args)).hex())
    except payload.PayloadError as e:
        return _fail("%s: %s" % (type(e).__name__, e))
    return EXIT_OK


def cmd_demo(args):
    t = 1763800000
    reading = {"seq": 1000, "t": t, "pm2_5": 12.3, "pm10": 20.1, "laeq": 55.4,
               "temperature": 21.37, "humidity": 48.5, "count_in": 17}  # fmt: skip
    ref = {"seq": 999, "t": t + 30}
    frame = payload.encode(reading, ref)
    print("reading:      " + json.dumps(reading))
    print("ref:          " + json.dumps(ref) + "  (uplink time and last seq, known to node and gateway)")
    print("frame:        %s  (%d bytes)" % (frame.hex(), len(frame)))
    print("JSON:         %d bytes" % len(json.dumps(reading, separators=(",", ":"))))
    print("decoded:      " + json.dumps(payload.decode(frame, ref)))
    three = [dict(reading, seq=1000 + i, t=t + 300 * i) for i in range(3)]
    frame3 = payload.encode(three, {"seq": 1000, "t": t + 605})
    print("3 readings:   %d bytes  (fits the 51-byte LoRaWAN DR0 payload)" % len(frame3))
    return EXIT_OK


def _ref_options(p):
    p.add_argument("--ref-seq", type=int, help="last sequence number seen from the device")
    p.add_argument("--ref-t", type=int, help="uplink time, unix seconds")


def register(sub):
    p = sub.add_parser("decode", help="decode a hex frame and print its readings as JSON")
    p.add_argument("hex", help="frame as hex ('-' reads stdin)")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    _ref_options(p)
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("encode", help="encode JSON readings (an object or a list) and print the frame as hex")
    p.add_argument("json", help="readings as JSON ('-' reads stdin)")
    _ref_options(p)
    p.set_defaults(func=cmd_encode)
    p = sub.add_parser("demo", help="encode a sample reading and show sizes")
    p.set_defaults(func=cmd_demo)
