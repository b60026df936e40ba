"""``edge gateway init|run|status``: write the config, run the agent, read its counters."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest generation (CPython: 700)

GROUP = "gateway"


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def cmd_init(args: argparse.Namespace) -> int:
    from gateway import config

    path = Path(args.config)
    if path.exists() and not args.force:
        return _fail("%s exists; pass --force to overwrite it" % path)
    if args.interactive or (args.gateway_id is None and sys.stdin.isatty()):
        from cli.gateway_wizard import interactive_init  # asks an installer, then writes the config

        return interactive_init(args)
    if args.gateway_id is None:
        return _fail("--gateway-id is required (or run init on a terminal, or with --interactive, to be asked)")
    overrides: dict[str, dict[str, object]] = {"gateway": {"id": args.gateway_id}}
    if args.udp_bind:
        overrides["udp"] = {"bind": args.udp_bind}
    if args.mqtt_url:
        overrides["mqtt"] = {"url": args.mqtt_url}
    if args.data_dir:
        overrides["storage"] = {"data_dir": args.data_dir}
    try:
        text = config.checked_render(overrides)  # never write a file the agent would refuse
    except config.ConfigError as e:
        return _fail(str(e))
    try:
        config.write(path, text)
    except OSError as e:
        return _fail("cannot write %s: %s" % (path, e.strerror))
    print("wrote %s" % path)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from gateway import config
    from gateway.agent import Agent
    from gateway.forward.settings import SettingsError
    from gateway.registry import DataDirError, RegistryError
    from gateway.store.errors import StoreError

    level = logging.DEBUG if args.verbose else logging.INFO
    if args.log_format == "json":
        from gateway.health.logfmt import json_handler

        logging.basicConfig(level=level, handlers=[json_handler()])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        return _fail(str(e))
    try:
        agent = Agent(cfg)
    except (SettingsError, DataDirError) as e:
        return _fail(str(e))
    except (RegistryError, StoreError) as e:
        return _fail(str(e), EXIT_FAILURE)
    except OSError as e:  # e.g. the UDP address is in use or not local
        return _fail("cannot start: %s" % e, EXIT_FAILURE)
    agent.install_signal_handlers()
    # The modules and state built so far live as long as the process: frozen, the collector stops
    # walking them in every full collection. Each uplink allocates some 30 containers that live
    # until its PUBACK or commit; a collection every 700 allocations (the default) moved each of
    # them up a generation while still in use; every 20,000 most die young (docs/gateway.md).
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)
    agent.run()
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from gateway import config, metrics

    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        return _fail(str(e))
    snap = metrics.read(cfg.data_dir / metrics.METRICS_FILE)
    counters = dict.fromkeys(metrics.STATUS_COUNTERS, 0)
    counters.update(snap.get("counters", {}))
    running = _alive(snap.get("pid"))
    if args.json:
        out = {
            "gateway_id": cfg.gateway.id,
            "running": running,
            "updated_at": snap.get("updated_at"),
            "interval_s": snap.get("interval_s"),
            "counters": counters,
            "gauges": snap.get("gauges", {}),
        }
        print(json.dumps(out, indent=1, sort_keys=True))
        return EXIT_OK
    print("gateway %s: agent %s" % (cfg.gateway.id, "running" if running else "not running"))
    updated, interval = snap.get("updated_at"), snap.get("interval_s")
    if isinstance(updated, (int, float)):  # the agent rewrites the file every interval_s, not live
        every = " (rewritten every %g s)" % interval if isinstance(interval, (int, float)) else ""
        print("  counters of %.0f s ago%s" % (max(0.0, time.time() - updated), every))
    for name in metrics.STATUS_COUNTERS:
        print("  %-22s %d" % (name, counters[name]))
    others = sorted(k for k in counters if k not in metrics.STATUS_COUNTERS)
    for name in others:
        print("  %-22s %d" % (name, counters[name]))
    return EXIT_OK


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a commented TOML config for the agent")
    p.add_argument("--config", required=True, help="path of the config file to write")
    p.add_argument(
        "--gateway-id", help="name of this gateway (an MQTT topic level); without it, on a terminal, init asks"
    )
    p.add_argument("--interactive", action="store_true", help="ask for each setting, validate it, test the broker")
    p.add_argument("--udp-bind", help="HOST:PORT the packet forwarder sends to (default 127.0.0.1:1700)")
    p.add_argument("--mqtt-url", help="broker URL, mqtt://host:1883 or mqtts://host:8883")
    p.add_argument("--data-dir", help="directory for the registry, buffer and counters")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("run", help="run the agent in the foreground (SIGTERM/SIGINT stop it cleanly)")
    p.add_argument("--config", required=True)
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="json: one JSON object per line (ts, level, logger, msg), for journald, Loki or Elastic",
    )  # fmt: skip
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="print the agent's counters")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
