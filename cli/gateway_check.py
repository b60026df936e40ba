"""``edge gateway check --config PATH``: what an installer runs before starting the agent.

Checks the config (keys, secret file modes), the data directory and disk space, the UDP bind and
the broker connection with the agent's own TLS and credentials, and prints one line per check.
Exit 0 when everything passes, 1 when a check fails, 2 when the config itself is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "gateway"


def cmd_check(args: argparse.Namespace) -> int:
    from gateway import config
    from gateway.forward import probe
    from gateway.forward.settings import SettingsError, from_config

    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        print("FAIL config %s: %s" % (args.config, e), file=sys.stderr)
        return EXIT_USAGE
    results = [probe.Result("config %s" % args.config, True, "valid")]
    try:
        settings = from_config(cfg)
    except SettingsError as e:
        results.append(probe.Result("MQTT settings", False, str(e)))
        settings = None
    results += probe.probe_data_dir(str(cfg.data_dir), cfg.buffer.quota_mb)
    host, port = config.parse_host_port(cfg.udp.bind)
    results.append(probe.probe_udp(host, port))
    if settings is not None:
        results.append(probe.probe_broker(settings, timeout=args.timeout))
    ok = all(r.ok for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [r.__dict__ for r in results]}, indent=1))
    else:
        for r in results:
            print("%-4s %s: %s" % ("ok" if r.ok else "FAIL", r.name, r.detail))
        print("all checks passed" if ok else "%d check(s) failed" % sum(not r.ok for r in results))
    return EXIT_OK if ok else EXIT_FAILURE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="test the config, data directory, UDP bind and broker connection")
    p.add_argument("--config", required=True, help="the agent's TOML config")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_check)
