"""Benchmark (c) of docs/gateway-forward.md for the whole agent: bytes written to disk per reading at 20 readings/s.

    uv run python bench/agent_disk.py [--rate 20] [--seconds 120] [--warmup 15] [--devices 1200]
                                      [--modes up,down] [--set ingest.counter_deadline_s=5 ...]
                                      [--trace DIR]

The real agent process (`edge gateway run`) with the MQTT forwarder on, a local Mosquitto, and a
packet-forwarder load generator sending one uplink per datagram (one six-quantity reading each)
from --devices registered ABP devices, round robin, at --rate uplinks/s. After --warmup seconds,
the agent's /proc/<pid>/io write_bytes (page-cache blocks the process dirtied: buffer, registry,
metrics file, everything) is read at the start and end of a --seconds window and divided by the
readings the agent counted as received in the window. The data directory is on a real disk
(BENCH_DIR, default /var/tmp), not tmpfs, where write_bytes stays 0.

Modes: `up` (broker reachable: the steady state), `down` (broker stopped for the whole window: an
outage, every reading has to be written). --set overrides config keys (section.key=value).
--trace DIR attaches strace to the agent for the window and prints, below each row, which file
the dirtied blocks belong to (bench/disk_trace.py); the log is kept in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]

from bench import disk_trace  # noqa: E402
from bench import pf_loadgen as lg  # noqa: E402
from bench.ingest_load import free_port, wait_ready  # noqa: E402
from gateway import config  # noqa: E402
from gateway.metrics import METRICS_FILE  # noqa: E402
from tests.mqtt_broker import MosquittoBroker  # noqa: E402


def write_bytes(pid: int) -> int:
    for line in Path("/proc/%d/io" % pid).read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/%d/io" % pid)


def counters(data_dir: Path) -> dict:
    try:
        return json.loads((data_dir / METRICS_FILE).read_text()).get("counters", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def parse_sets(items: list[str]) -> dict:
    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        v: object = value
        for cast in (int, float):
            try:
                v = cast(value)
                break
            except ValueError:
                continue
        out.setdefault(section, {})[name] = v
    return out


def run(mode: str, args: argparse.Namespace) -> dict:
    base = Path(os.environ.get("BENCH_DIR", "/var/tmp"))
    tmp = Path(tempfile.mkdtemp(prefix="edge-agent-disk-", dir=base))
    broker = MosquittoBroker(tmp).start()
    agent = None
    try:
        port = free_port()
        data = tmp / "data"
        data.mkdir(mode=0o700)
        raw: dict[str, dict[str, object]] = {
            "gateway": {"id": "bench"},
            "udp": {"bind": "127.0.0.1:%d" % port},
            "storage": {"data_dir": str(data)},  # metrics.json at its default interval: part of the cost
            "mqtt": {"url": broker.url},
        }
        for section, keys in parse_sets(args.set).items():
            raw.setdefault(section, {}).update(keys)
        cfg_path = tmp / "gateway.toml"
        cfg_path.write_text(config.render(raw))
        devs = lg.make_devices(args.devices)
        lg.register(data, devs)
        total = int(args.rate * (args.warmup + args.seconds + 5))
        phys = lg.frames(devs, -(-total // args.devices))[:total]
        grams = lg.datagrams(phys, 1)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "hostshims")]))
        cmd = [sys.executable, "-m", "cli.main", "gateway", "run", "--config", str(cfg_path)]
        agent = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_ready(port)
        sender = lg.Sender(("127.0.0.1", port))
        start = time.monotonic()
        t = threading.Thread(target=sender.send, args=(grams, args.rate), daemon=True)
        t.start()
        time.sleep(args.warmup)
        if mode == "down":
            broker.stop()
            time.sleep(2)
        tracer, log = None, None
        if args.trace:
            log = Path(args.trace) / ("agent_disk-%s.strace" % mode)
            log.parent.mkdir(parents=True, exist_ok=True)  # strace cannot create it: the window's log would be lost
            calls = "trace=openat,write,pwrite64,fsync,fdatasync,ftruncate,rename"
            tracer = subprocess.Popen(["strace", "-f", "-tt", "-y", "-e", calls, "-p", str(agent.pid), "-o", str(log)],
                                      stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(1.0)  # attached to every thread
        s0, w0, t0 = sender.sent, write_bytes(agent.pid), time.monotonic()
        time.sleep(args.seconds)
        s1, w1, t1 = sender.sent, write_bytes(agent.pid), time.monotonic()
        if tracer is not None:
            tracer.send_signal(2)  # SIGINT: strace detaches and flushes its log
            tracer.wait(30)
        sender.stop.set()
        t.join(10)
        readings = s1 - s0  # one reading an uplink; every one sent is checked as received below
        breakdown = ""
        if log is not None:
            with open(log, encoding="utf-8", errors="replace") as f:
                breakdown = disk_trace.table(disk_trace.replay(f, str(data)), readings)
        agent.terminate()
        agent.wait(30)
        received = counters(data).get("stored_readings", 0)  # saved at shutdown
        if received != sender.sent:
            raise RuntimeError("the agent counted %d readings of %d sent" % (received, sender.sent))
        return {
            "mode": mode,
            "window_s": round(t1 - t0, 1),
            "readings": readings,
            "bytes": w1 - w0,
            "bytes_per_reading": round((w1 - w0) / readings, 1) if readings else None,
            "sent": sender.sent,
            "elapsed_s": round(time.monotonic() - start, 1),
            "breakdown": breakdown,
        }
    finally:
        if agent is not None:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--warmup", type=float, default=15.0)
    ap.add_argument("--devices", type=int, default=1200)
    ap.add_argument("--modes", default="up,down")
    ap.add_argument("--set", action="append", default=[], help="config override, section.key=value")
    ap.add_argument("--trace", default="", help="directory for an strace log of each window, broken down per file")
    args = ap.parse_args()
    print("agent disk writes at %.0f readings/s, %d devices, %.0f s windows; overrides: %s"
          % (args.rate, args.devices, args.seconds, ", ".join(args.set) or "none"))  # fmt: skip
    print("| broker | window s | readings | bytes written | bytes/reading |")
    print("|---|---|---|---|---|")
    for mode in args.modes.split(","):
        r = run(mode, args)
        print("| %s | %s | %d | %d | %s |" % (mode, r["window_s"], r["readings"], r["bytes"], r["bytes_per_reading"]))
        if r["breakdown"]:
            print("\n" + r["breakdown"] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
