"""``edge plan airtime|deployment``: size a deployment before buying (fieldtools/plan.py)."""

import argparse
import json
import sys

from cli.main import EXIT_OK, EXIT_USAGE

GROUP = "plan"


def _fail(message: str) -> int:
    print("error: " + message, file=sys.stderr)
    return EXIT_USAGE


def cmd_airtime(args) -> int:
    from fieldtools.plan import PlanError, airtime_ms

    try:
        ms = airtime_ms(args.phy_bytes, args.sf, args.bw, cr=args.cr, preamble=args.preamble)
    except PlanError as e:
        return _fail(str(e))
    print("%.3f ms" % ms)
    return EXIT_OK


def _currents(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if "." not in key or not value:
            raise ValueError("--current takes PART.STATE=MA, e.g. sds011.sleep=0.1 (got %r)" % item)
        try:
            out[key] = float(value)
        except ValueError:
            raise ValueError("--current %s: %r is not a number of mA" % (key, value)) from None
        if out[key] < 0:
            raise ValueError("--current %s: a current cannot be negative" % key)
    return out


def _days(d: float | None) -> str:
    if d is None:
        return "unknown"
    return "%.0f days (%.1f years)" % (d, d / 365.25) if d >= 365 else "%.1f days" % d


def _report(p: dict) -> None:
    d, r, load, bat, fl, bh = p["deployment"], p["radio"], p["load"], p["battery"], p["flash"], p["backhaul"]
    print("Deployment: %d nodes, board %s, sensors %s" % (d.nodes, d.board, ", ".join(d.sensors)))
    print("  measurement every %d s, uplink every %d s (%d reading%s an uplink), EU868 DR%d = SF%d/%d kHz"
          % (d.interval_s, d.uplink_interval_s, r["readings_per_uplink"], "" if r["readings_per_uplink"] == 1 else "s",
             d.dr, r["sf"], r["bw_khz"]))  # fmt: skip
    print()
    print("Radio (one node)")
    for i, (fb, pb, t) in enumerate(zip(r["frame_bytes"], r["phy_bytes"], r["toa_ms"], strict=True)):
        print("  frame %d: %d payload bytes (max %d), %d PHY bytes, time on air %.3f ms"
              % (i + 1, fb, r["max_payload"], pb, t))  # fmt: skip
    print("  uplinks per day:      %.1f" % r["uplinks_per_day"])
    print("  airtime per day:      %.2f s" % r["airtime_s_per_day"])
    print("  off-time after the longest frame (duty cycle): %.1f s" % r["off_time_s"])
    for b in r["subbands"]:
        fmt = (
            "  sub-band %.1f-%.1f MHz (%g %%, %d channel%s): %.3f s/h of %.0f s/h allowed = %.4f %% used, margin x%.0f"
        )
        print(fmt
              % (b["lo_mhz"], b["hi_mhz"], b["duty_pct"], b["channels"], "" if b["channels"] == 1 else "s",
                 b["airtime_s_per_h"], b["limit_s_per_h"], b["used_pct"], b["margin"]))  # fmt: skip
    ok = "within" if r["fair_use_margin"] >= 1 else "OVER"
    print("  uplink.network = \"private\" (the city's gateway, duty cycle only): %s"
          % ("fits" if r["networks"]["private"] else "OVER a sub-band's duty cycle"))  # fmt: skip
    print("  uplink.network = \"ttn\" (fair use %.0f s/day): %.2f s used, margin x%.2f, %s the budget"
          % (r["fair_use_s"], r["airtime_s_per_day"], r["fair_use_margin"], ok))  # fmt: skip
    if r["fair_use_margin"] < 1:
        per_event_s = r["airtime_s_per_day"] * d.uplink_interval_s / 86400
        print("  on TTN the node skips uplinks to keep within it: uplink every %.0f s or more, or a faster data rate"
              % (86400 * per_event_s / r["fair_use_s"]))  # fmt: skip
    print()
    print("Gateway channels (%d nodes, %d channels at DR%d)" % (d.nodes, load["channels"], d.dr))
    print("  %.3f uplinks/s, load %.5f Erlang a channel, pure-ALOHA delivery %.2f %%"
          % (load["uplinks_per_s"], load["load_per_channel"], 100 * load["aloha_success"]))  # fmt: skip
    print()
    print("Battery (%.0f mAh, %.0f %% usable)" % (bat["battery_mah"], 100 * bat["usable"]))
    for row in bat["rows"]:
        print("  %-14s %-7s %9.4g mA x %8.0f s/day = %8.3f mAh/day   [%s]"
              % (row["part"], row["state"], row["ma"], row["s_per_day"], row["mah_per_day"],
                 row["source"]))  # fmt: skip
    if bat["missing"]:
        print("  no current known for %s: give --current %s=MA" % (", ".join(bat["missing"]), bat["missing"][0]))
    print(
        "  average %.3f mA, %.1f mAh/day: battery life %s"
        % (bat["average_ma"], bat["mah_per_day"], _days(bat["life_days"]))
    )
    print()
    print("Flash (datalog budget %d bytes, batches of %d readings)" % (fl["budget_bytes"], fl["batch"]))
    print("  %.1f bytes a reading (measured on the firmware's Datalog): %.0f readings = %s of autonomy"
          % (fl["bytes_per_reading"], fl["readings"], _days(fl["days"])))  # fmt: skip
    print()
    print("Backhaul (one gateway, %d nodes)" % d.nodes)
    print("  %d-byte SenML-CBOR pack, %d bytes with MQTT framing, per uplink: %.1f MB/month (30 days)"
          % (bh["pack_bytes"], bh["message_bytes"], bh["mb_per_month"]))  # fmt: skip
    print("  sizes from %s" % bh["source"])


def cmd_deployment(args) -> int:
    from fieldtools.plan import Deployment, PlanError, plan, sf_to_dr

    try:
        if args.sf is not None:
            args.dr = sf_to_dr(args.sf)
        currents = _currents(args.current or [])
        given = {"nodes": args.nodes, "board": args.board, "interval_s": args.interval,
                 "uplink_interval_s": args.uplink_interval, "dr": args.dr, "battery_mah": args.battery_mah,
                 "usable": args.usable, "budget_bytes": args.budget_bytes}  # fmt: skip
        if args.sensors is not None:
            given["sensors"] = tuple(s for s in args.sensors.split(",") if s)
        dep = Deployment(currents=currents, **{k: v for k, v in given.items() if v is not None})
        result = plan(dep)
    except (PlanError, ValueError) as e:
        return _fail(str(e))
    if args.json:
        result["deployment"] = vars(result["deployment"])
        print(json.dumps(result, indent=1, default=str))
    else:
        _report(result)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("airtime", help="time on air of one LoRa frame, in ms (Semtech AN1200.13)")
    p.add_argument("--sf", type=int, required=True, help="spreading factor 7..12")
    p.add_argument("--bw", type=int, default=125, help="bandwidth in kHz (125, 250, 500)")
    p.add_argument("--phy-bytes", type=int, required=True, help="PHYPayload length in bytes")
    p.add_argument("--cr", type=int, default=1, help="coding rate index 1..4 = 4/5..4/8 (default 1)")
    p.add_argument("--preamble", type=int, default=8, help="preamble symbols (default 8)")
    p.set_defaults(func=cmd_airtime)

    p = sub.add_parser("deployment", help="airtime, duty cycle, fair use, battery, flash and backhaul of N nodes")
    p.add_argument("--nodes", type=int, help="nodes per gateway (default 150)")
    p.add_argument("--board", help="board of hw/boards (default esp32-devkitc)")
    p.add_argument("--sensors", help="comma-separated sensor types (default sds011,sht3x)")
    p.add_argument("--interval", type=int, help="measurement interval, s (default: the firmware's)")
    p.add_argument("--uplink-interval", type=int, help="uplink interval, s (default: every measurement)")
    radio = p.add_mutually_exclusive_group()
    radio.add_argument("--dr", type=int, default=None, help="EU868 data rate 0..5 (default: the firmware's)")
    radio.add_argument("--sf", type=int, default=None, help="spreading factor 7..12 at 125 kHz (instead of --dr)")
    p.add_argument("--battery-mah", type=float, help="battery capacity, mAh (default 10000)")
    p.add_argument("--usable", type=float, help="usable fraction of the capacity (default 0.8)")
    p.add_argument("--budget-bytes", type=int, help="datalog flash budget (default: the board's)")
    p.add_argument("--current", action="append", metavar="PART.STATE=MA",
                   help="override a supply current, e.g. sds011.sleep=0 (repeatable)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_deployment)
