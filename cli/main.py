"""Entry point of the ``edge`` command.

Commands live in the modules of this package. A module that defines ``GROUP`` and ``register(sub)``
adds its commands: with GROUP = "gateway" it receives the subparsers of ``edge gateway``; with
GROUP = None it receives the top-level subparsers (for commands such as ``edge flash``). Each
command sets ``func`` (args -> exit code) with ``set_defaults``. Heavy imports belong inside the
command functions, so ``edge --help`` stays fast.
"""

import argparse
import importlib
import pkgutil
import sys

import cli

GROUP_HELP = {
    "payload": "encode and decode the compact node payload (JSON <-> hex)",
    "gateway": "run, configure and inspect the gateway agent",
    "lorawan": "decode LoRaWAN frames for debugging a device",
    "sim": "run the simulated chain and virtual boards",
    "device": "talk to a sensor node over USB",
    "platform": "the central platform: ingest gateways' MQTT data into PostgreSQL, query it",
    "plan": "dimension a deployment: airtime, duty cycle, battery, data volume",
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def command_modules():
    """The cli modules that contribute commands, in name order."""
    mods = []
    for info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda i: i.name):
        if info.name == "main" or info.name.startswith("_"):
            continue
        mod = importlib.import_module("cli." + info.name)
        if hasattr(mod, "register") and hasattr(mod, "GROUP"):
            mods.append(mod)
    return mods


def build_parser():
    parser = argparse.ArgumentParser(prog="edge", description="edge: open edge stack for smart-city sensor networks")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for mod in command_modules():
        if mod.GROUP is None:
            mod.register(top)
            continue
        if mod.GROUP not in groups:
            gp = top.add_parser(mod.GROUP, help=GROUP_HELP.get(mod.GROUP, ""))
            groups[mod.GROUP] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        mod.register(groups[mod.GROUP])
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    return 0 if code is None else code


if __name__ == "__main__":
    sys.exit(main())
