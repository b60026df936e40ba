"""Platform ingest benchmark: a backlog of gateway packs into PostgreSQL, committed values per second.

    uv run python bench/platform_ingest.py [--values 1000000] [--naive-values 100000]

One run, each case on its own fresh Mosquitto (free loopback port) and fresh database on the
machine's PostgreSQL (127.0.0.1:5432):
  two      two `edge platform run` processes sharing the subscription ($share/edge-platform/...)
  one      a single `edge platform run` process
  naive    one consumer that INSERTs row by row (ON CONFLICT DO NOTHING), commit and PUBACK per
           message, on a smaller backlog (it is slow; its rate does not depend on the backlog size)
The backlog is what gateway forwarders publish: packs made by the forwarder's own encoder
(gateway.forward.senml.PackEncoder, 1,000 readings of 5 quantities a message, several devices per
message, as the forwarder groups them), published at QoS 1 while the instances are stopped, so it
waits in their persistent sessions and the clock measures ingest alone: from the processes'
start to the moment the observations table holds every value. Peak RSS (VmHWM) of each process
and its RSS at each quarter of the backlog come from /proc. The load average is printed too:
this is a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402

from central.senml import parse_topic, unpack  # noqa: E402
from gateway.forward import senml  # noqa: E402
from tests.mqtt_broker import MosquittoBroker  # noqa: E402
from tests.platform import pgdb  # noqa: E402

T0 = 1763800000
DEVICES = 50
QUANTITIES = {"pm2_5": 0.1, "pm10": 0.1, "temperature": 0.01, "humidity": 0.5, "laeq": 0.1}
READINGS_PER_MESSAGE = 1000  # [mqtt] batch_max_readings default


def backlog(values: int) -> list[bytes]:
    """Forwarder packs holding `values` values: devices' readings every 5 min, grouped as the forwarder does."""
    per_device = values // len(QUANTITIES) // DEVICES
    enc = senml.PackEncoder()
    packs = []
    pending: list[tuple[str, list[senml.Reading]]] = []
    n = 0
    for d in range(DEVICES):
        eui = "70b3d57ed%07x" % d
        rs = [
            (i, T0 + 300 * i, {q: round((i * (k + 3) + d) % 400 * step + 1, 2) for k, (q, step) in
                               enumerate(QUANTITIES.items())})
            for i in range(per_device)
        ]  # fmt: skip
        while rs:
            take = rs[: READINGS_PER_MESSAGE - n]
            rs = rs[len(take) :]
            pending.append((eui, take))
            n += len(take)
            if n == READINGS_PER_MESSAGE:
                packs.append(enc.encode(pending))
                pending, n = [], 0
    if pending:
        packs.append(enc.encode(pending))
    return packs


def publish(broker: MosquittoBroker, packs: list[bytes]) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    infos = [c.publish("edge/lamp-%d/up" % (i % 4), p, qos=1) for i, p in enumerate(packs)]
    for info in infos:
        info.wait_for_publish(60)
    c.loop_stop()
    c.disconnect()


def count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM observations").fetchone()[0]


def rss_kb(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def run_instances(n: int, total: int, values: int, tmp: Path) -> dict:
    with pgdb.database() as dsn, MosquittoBroker(tmp / ("broker%d" % n)) as broker:
        cfg = tmp / ("platform%d.toml" % n)
        subprocess.run([sys.executable, "-m", "cli.main", "platform", "init", "--config", str(cfg), "--mqtt-url",
                        broker.url, "--dsn", dsn, "--force"], cwd=ROOT, check=True, capture_output=True)  # fmt: skip

        def start(i: int) -> tuple[subprocess.Popen, Path]:
            log = tmp / ("i%d-%d.log" % (n, i))
            p = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "platform", "run", "--config", str(cfg), "--client-id",
                 "bench-%d" % i], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
            )  # fmt: skip
            return p, log

        # create the sessions and subscriptions, then stop: the backlog waits in the sessions
        procs = [start(i) for i in range(n)]
        for p, log in procs:
            deadline = time.monotonic() + 30
            while "subscribed to" not in log.read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(log.read_text())
                time.sleep(0.05)
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        packs = backlog(values)
        publish(broker, packs)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        procs = [start(i) for i in range(n)]
        quarters: dict[int, list[int]] = {}
        peak = [0] * n
        done = 0
        while True:
            time.sleep(0.25)
            for i, (p, _) in enumerate(procs):
                peak[i] = max(peak[i], rss_kb(p.pid)[1])
            done = count(dsn)
            q = 4 * done // total
            if q not in quarters:
                quarters[q] = [rss_kb(p.pid)[0] for p, _ in procs]
            if done >= total or time.monotonic() - t0 > 600:
                break
        elapsed = time.monotonic() - t0
        for p, _ in procs:
            peak[procs.index((p, _))] = max(peak[procs.index((p, _))], rss_kb(p.pid)[1])
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        return {
            "values": done, "messages": len(packs), "seconds": elapsed, "rate": done / elapsed,
            "peak_rss_mb": [k / 1024 for k in peak], "rss_by_quarter_mb": {k: [x / 1024 for x in v] for k, v in
                                                                          sorted(quarters.items())},
            "load": (load0, os.getloadavg()),
        }  # fmt: skip


def run_naive(values: int, tmp: Path) -> dict:
    """Row by row: one INSERT per value, commit and acknowledge per message."""
    with pgdb.database() as dsn, MosquittoBroker(tmp / "broker-naive") as broker:
        packs = backlog(values)
        total = sum(len(unpack("up", p)) for p in packs)
        conn = psycopg.connect(dsn)
        got = threading.Event()
        stored = [0]
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="naive", protocol=mqtt.MQTTv5, manual_ack=True)

        def on_message(client, userdata, msg):
            gw, leaf = parse_topic("edge", msg.topic)
            for eui, q, t, v in unpack(leaf, msg.payload):
                conn.execute(
                    "INSERT INTO observations (dev_eui, quantity, t, value, gateway_id) VALUES"
                    " (%s, %s, to_timestamp(%s), %s, %s) ON CONFLICT DO NOTHING", (eui, q, t, v, gw))  # fmt: skip
                stored[0] += 1
            conn.commit()
            client.ack(msg.mid, msg.qos)
            if stored[0] >= total:
                got.set()

        c.on_message = on_message
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("edge/+/up/#", qos=1)
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.connect(broker.host, broker.port)
        c.loop_start()
        subscribed.wait(10)
        c.loop_stop()  # stop reading until the backlog is in the broker
        publish(broker, packs)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        c.loop_start()
        got.wait(600)
        elapsed = time.monotonic() - t0
        c.loop_stop()
        c.disconnect()
        conn.close()
        done = count(dsn)
        return {"values": done, "seconds": elapsed, "rate": done / elapsed, "load": (load0, os.getloadavg())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=1_000_000)
    ap.add_argument("--naive-values", type=int, default=100_000)
    args = ap.parse_args()
    total = sum(len(unpack("up", p)) for p in backlog(args.values))
    print("backlog: %d values in %d messages, load average %.2f %.2f %.2f" % (total, len(backlog(args.values)),
                                                                              *os.getloadavg()))  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = {"two": run_instances(2, total, args.values, tmp), "one": run_instances(1, total, args.values, tmp)}
        results["naive"] = run_naive(args.naive_values, tmp)
    print("| case | values | seconds | values/s committed | peak RSS per process (MB) | load avg before -> after |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        peak = ", ".join("%.1f" % x for x in r.get("peak_rss_mb", [])) or "(in the bench process)"
        print("| %s | %d | %.1f | %.0f | %s | %.2f -> %.2f |" % (name, r["values"], r["seconds"], r["rate"], peak,
                                                                r["load"][0][0], r["load"][1][0]))  # fmt: skip
    for name in ("two", "one"):
        rss = results[name]["rss_by_quarter_mb"]
        print("%s: RSS (MB) per process at each quarter of the backlog: %s" % (name, rss))


if __name__ == "__main__":
    main()
