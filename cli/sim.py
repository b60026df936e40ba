"""``edge sim run|check|list``: the whole chain simulated (docs/simulator.md)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "sim"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return "%d:%02d:%02d" % (s // 3600, s % 3600 // 60, s % 60)


class ProgressLine:
    """One refreshed status line on a terminal, a line every 10 % of the run otherwise."""

    def __init__(self, out: TextIO, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.tty = out.isatty()
        self._next_pct = 0.0
        self._last = 0.0

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        pct = 100.0 * p.virtual_s / p.duration_s if p.duration_s else 100.0
        flags = ("" if p.backhaul_up else " BACKHAUL DOWN") + ("" if p.agent_up else " AGENT DOWN")
        line = "virtual %s/%s  uplinks %d  generated %d  backlog %d  arrived %d  %.0fx%s" % (
            _hms(p.virtual_s), _hms(p.duration_s), p.uplinks, p.generated, p.backlog, p.arrived, p.speed,
            flags)  # fmt: skip
        if self.tty:
            if time.monotonic() - self._last > 0.1 or pct >= 100:
                self._last = time.monotonic()
                self.out.write("\r" + line.ljust(110)[:110])
                self.out.flush()
        elif pct >= self._next_pct:
            self._next_pct = pct + 10
            self.out.write(line + "\n")
            self.out.flush()

    def done(self) -> None:
        if self.tty and not self.quiet:
            self.out.write("\n")


def cmd_run(args: argparse.Namespace) -> int:
    from central.db import DatabaseError
    from simulator import scenario
    from simulator.agent import WiringMissing
    from simulator.broker import BrokerError
    from simulator.runner import Runner, write_reports

    try:
        sc = scenario.load(args.scenario)
    except scenario.ScenarioError as e:
        print("error: invalid scenario: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="edge-sim-%s-" % sc.name))
    json_path = Path(args.report) if args.report else workdir / "report.json"
    html_path = json_path.with_suffix(".html")
    progress = ProgressLine(sys.stderr, args.quiet)
    print("edge sim: %s: %d nodes, %d concentrators, %s virtual; work dir %s"
          % (sc.name, len(sc.nodes), len(sc.concentrators), _hms(sc.duration_s), workdir), file=sys.stderr)  # fmt: skip
    dsn = args.platform_dsn if args.platform == "postgres" else None
    if args.platform == "postgres" and not dsn:
        print("error: --platform postgres needs --platform-dsn postgresql://...", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = Runner(sc, workdir, broker=args.broker, progress=progress, platform_dsn=dsn).run()
    except DatabaseError as e:
        progress.done()
        print("error: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    except (WiringMissing, BrokerError) as e:
        progress.done()
        print("error: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    progress.done()
    write_reports(result, json_path, html_path, sc.start_unix)
    s = result.summary
    keys = ("generated", "delivered_unique", "duplicates", "lost_explained", "lost_unexplained",
            "virtual_seconds", "wall_seconds", "acceleration")  # fmt: skip
    print(json.dumps({k: s.get(k) for k in keys}))
    if "platform" in s:
        p = s["platform"]
        print("platform (PostgreSQL): %d values stored, %d at the checker, same as the checker: %s"
              % (p["values_stored"], p["values_at_checker"], p["same_as_checker"]), file=sys.stderr)  # fmt: skip
    for skipped in s.get("skipped", []):
        print("skipped on MQTT 3.1.1: %s" % skipped, file=sys.stderr)
    print("report: %s  picture: %s" % (json_path, html_path), file=sys.stderr)
    if not result.ok:
        print("FAIL: %d readings lost without explanation (%d of them arrived under another time), %d wrong values,"
              " %d malformed messages" % (s["lost_unexplained"], s.get("time_mismatch", 0), s["wrong_values"],
                                          s["malformed_messages"]), file=sys.stderr)  # fmt: skip
        return EXIT_FAILURE
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from simulator import scenario

    try:
        sc = scenario.load(args.scenario)
    except scenario.ScenarioError as e:
        print("error: invalid scenario: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    print("%s: valid: %d nodes, %d concentrators, %s, %d faults"
          % (sc.name, len(sc.nodes), len(sc.concentrators), _hms(sc.duration_s), len(sc.faults)))  # fmt: skip
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from simulator import scenario

    for path in sorted(scenario.SCENARIO_DIR.glob("*.toml")):
        sc = scenario.load(path)
        print("%-12s %s" % (sc.name, sc.description))
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a scenario through the real firmware, gateway agent and broker")
    p.add_argument("scenario", help="a scenario file, or the name of a shipped one (edge sim list)")
    p.add_argument("--report", help="write the JSON summary here (the HTML picture goes beside it, .html)")
    p.add_argument("--workdir", help="keep the run's files here (agent config, SQLite, node flash, logs)")
    p.add_argument("--broker", choices=("auto", "mosquitto", "amqtt"), default="auto",
                   help="auto: mosquitto when installed, else the embedded amqtt (MQTT 3.1.1 only)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.add_argument("--platform", choices=("checker", "postgres"), default="checker",
                   help="postgres: also run the platform ingest into --platform-dsn and compare it with the checker")
    p.add_argument("--platform-dsn", help="PostgreSQL database for --platform postgres (schema created if missing)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("check", help="validate a scenario file and say what it holds")
    p.add_argument("scenario")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("list", help="the shipped scenarios")
    p.set_defaults(func=cmd_list)
