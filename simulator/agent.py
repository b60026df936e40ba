"""The real gateway agent as a child process of the simulator: configured, started, killed, restarted.

Configuration goes through the agent's own command line, in process (``edge gateway init`` and
``edge gateway device add`` for every node, OTAA as the LoRa-E5 modem joins), so the simulator
uses exactly what an installer uses. The agent itself runs as ``python -m cli.main gateway run``
in its own process, so ``kill -9`` is a real one and its RSS is its own.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from simulator.scenario import Node, Scenario

ROOT = Path(__file__).resolve().parents[1]


class WiringMissing(RuntimeError):
    """A part of the chain the simulator runs (firmware, gateway CLI) is not in this tree yet."""


def _edge(argv: list[str], parser: Any = None) -> tuple[int, str]:
    """Run an `edge` command in this process; (exit code, stderr and stdout).

    parser: the `edge` parser (cli.main.build_parser()), built once by a caller that runs many
    commands (a thousand `device add`), as cli.main.main() would build it for each."""
    from cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            if parser is None:
                code = main(argv)
            else:
                args = parser.parse_args(argv)
                code = args.func(args)
                code = 0 if code is None else code
        except SystemExit as e:  # argparse: unknown command or bad option
            code = int(e.code or 0) if not isinstance(e.code, str) else 2
    return code, out.getvalue()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, list):
        return "[%s]" % ", ".join(_toml_value(x) for x in v)
    raise TypeError("cannot write %r to TOML" % (v,))


def merge_config(path: Path, extra: dict[str, Any]) -> None:
    """Overlay `{section: {key: value}}` on the agent's config file (flat sections only)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for section, values in extra.items():
        if not isinstance(values, dict):
            raise ValueError("gateway.extra.%s must be a table of agent settings" % section)
        data.setdefault(section, {}).update(values)
    lines = ["# written by the edge simulator from `edge gateway init` and the scenario's [gateway.extra]"]
    for section, values in data.items():
        lines.append("\n[%s]" % section)
        lines += ["%s = %s" % (k, _toml_value(v)) for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class AgentProcess:
    def __init__(self, scenario: Scenario, workdir: Path, udp_port: int, mqtt_url: str, mqtt_version: int) -> None:
        self.scenario = scenario
        self.mqtt_version = mqtt_version  # the scenario's, unless the broker only speaks 3.1.1
        self.config = workdir / "gateway.toml"
        self.data_dir = workdir / "gateway-data"
        self.log_path = workdir / "agent.log"
        self.udp_port = udp_port
        self.mqtt_url = mqtt_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def provision(self, nodes: tuple[Node, ...]) -> None:
        gw = self.scenario.gateway
        argv = ["gateway", "init", "--config", str(self.config), "--gateway-id", gw.gateway_id,
                "--udp-bind", "127.0.0.1:%d" % self.udp_port, "--mqtt-url", self.mqtt_url,
                "--data-dir", str(self.data_dir)]  # fmt: skip
        code, out = _edge(argv)
        if code != 0:
            raise WiringMissing("`edge gateway init` failed with exit %d: %s" % (code, out.strip()[-400:]))
        extra = dict(gw.extra)
        extra.setdefault("mqtt", {})
        version = "5" if self.mqtt_version == 5 else "3.1.1"
        # Wall-clock reconnect delays short enough for a run that compresses hours into seconds.
        mqtt = {"topic_root": gw.topic_root, "version": version, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0}
        extra["mqtt"] = {**mqtt, **extra["mqtt"]}
        # Group commit within the runner's RX hold, so class-A downlinks leave before the virtual window.
        extra["ingest"] = {"commit_deadline_ms": 2, **extra.get("ingest", {})}
        # The virtual concentrator stamps rxpk.time with the virtual clock, far from the agent's own.
        extra["udp"] = {"rxpk_time_window_s": 0.0, **extra.get("udp", {})}
        # the downlink duty cycle on the concentrators' virtual clock, not the agent's wall clock
        extra["lorawan"] = {"duty_clock": "concentrator", **extra.get("lorawan", {})}
        # The runner reads the agent's status file to see its buffer empty: keep it fresh.
        extra["storage"] = {"metrics_interval_s": 0.5, **extra.get("storage", {})}
        merge_config(self.config, extra)
        from cli.main import build_parser

        parser = build_parser()
        for n in nodes:
            code, out = _edge(["gateway", "device", "add", "--config", str(self.config), "--dev-eui", n.dev_eui,
                               "--otaa", "--join-eui", n.join_eui, "--app-key", n.app_key], parser)  # fmt: skip
            if code != 0:
                raise WiringMissing("`edge gateway device add` failed for %s: %s" % (n.name, out.strip()[-400:]))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        if self.alive:
            return
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "hostshims")]))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "gateway", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        self.starts += 1

    def kill9(self) -> None:
        if self.proc is not None and self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def stop(self) -> int | None:
        """SIGTERM and wait for the clean shutdown; the exit code."""
        if self.proc is None:
            return None
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def status(self) -> dict[str, Any] | None:
        """`edge gateway status --json` counters, or None when the command is not available."""
        import json

        code, out = _edge(["gateway", "status", "--config", str(self.config), "--json"])
        if code != 0:
            return None
        try:
            data = json.loads(out)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None
