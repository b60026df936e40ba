"""Benchmarks (a) and (b) of docs/gateway-forward.md: draining a backlog to a local Mosquitto at QoS 1.

    uv run python bench/forward_drain.py [--readings 200000] [--naive-readings 20000]

Side by side, in one run, each against its own fresh Mosquitto on a free loopback port:
  edge      the gateway's forwarder: SenML-CBOR batches, QoS 1, rows deleted after a successful PUBACK
  naive     one MQTT message per reading (SenML-CBOR of that reading), QoS 1, row deleted after its PUBACK
  bridge    Mosquitto as the store-and-forward: the gateway publishes each reading to a local broker
            bridged to the platform broker (QoS 1); the backlog is queued in the local broker's memory
            while the platform is down, then drained; measured until the platform subscriber has all
Then (b): MQTT payload bytes per measured value, for the backlog drain (plain and with
[mqtt] compression = "deflate"), for live single readings, and for random-walk values encoded as
the forwarder encodes them (no broker: a check that the figure does not rest on regular values).
"""

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import paho.mqtt.client as mqtt  # noqa: E402

from gateway import config  # noqa: E402
from gateway.forward import senml  # noqa: E402
from gateway.forward.forwarder import DEFLATE_LEVEL, Forwarder  # noqa: E402
from gateway.forward.settings import from_config  # noqa: E402
from gateway.store.buffer import ReadingBuffer  # noqa: E402
from gateway.store.records import Reading, Uplink  # noqa: E402
from tests.mqtt_broker import MosquittoBroker, free_port  # noqa: E402

DEVICES = 50
T0 = 1763800000


def reading(i: int) -> Reading:
    dev = "70b3d57ed%07x" % (i % DEVICES)
    k = i // DEVICES
    return Reading(dev, k, T0 + 300 * k, {
        "pm2_5": (i * 7 % 900) / 10, "pm10": (i * 11 % 1500) / 10,
        "temperature": (1500 + i % 1000) / 100, "humidity": (60 + i % 100) / 2,
    })  # fmt: skip


def fill(path: str, n: int) -> None:
    """One row per reading, as uplinks of nodes that send one reading each arrive."""
    buf = ReadingBuffer(path)
    chunk = 5000
    for k in range(0, n, chunk):
        items = []
        for i in range(k, min(n, k + chunk)):
            r = reading(i)
            up = Uplink(r.dev_eui, "2601%04x" % (i % DEVICES), r.seq, 2, bytes(24), float(r.t + 2), "b827ebfffe000001",
                        -97.0, 7.25, 868100000, "SF9BW125")  # fmt: skip
            items.append((up, [r]))
        buf.commit_uplinks(items)
    buf.close()


def settings_for(broker: MosquittoBroker, compression: str = "none"):
    raw = {"gateway": {"id": "bench"}, "mqtt": {"url": broker.url, "compression": compression}}
    return from_config(config.from_dict(raw))


def noisy_packs(n: int, batch: int = 1000, seed: int = 1) -> tuple[int, int, int]:
    """(plain bytes, deflated bytes, values) of n random-walk readings of DEVICES devices (five
    quantities at their resolution, times jittered by ±2 s), encoded in batches as the forwarder
    does: a check that (b) does not rest on the drain's regular synthetic values."""
    rnd = random.Random(seed)
    steps = {"pm2_5": 0.1, "pm10": 0.1, "temperature": 0.01, "humidity": 0.5, "laeq": 0.1}
    level = {d: {q: rnd.uniform(5, 60) for q in steps} for d in range(DEVICES)}
    enc = senml.PackEncoder()
    plain = packed = values = 0
    for start in range(0, n, batch):
        groups: dict[str, list] = {}
        for i in range(start, min(n, start + batch)):
            d, k = i % DEVICES, i // DEVICES
            vals = {}
            for q, step in steps.items():
                level[d][q] = max(0.0, level[d][q] + rnd.gauss(0, 20 * step))
                vals[q] = round(round(level[d][q] / step) * step, 2)
            groups.setdefault("70b3d57ed%07x" % d, []).append((k, T0 + 300 * k + rnd.randint(-2, 2), vals))
            values += len(vals)
        pack = enc.encode(list(groups.items()))
        plain += len(pack)
        packed += len(zlib.compress(pack, DEFLATE_LEVEL))
    return plain, packed, values


def run_edge(work: str, n: int, compression: str = "none") -> dict:
    path = os.path.join(work, "edge-%s.db" % compression)
    fill(path, n)
    with MosquittoBroker(work, name="edge-" + compression) as broker:
        buf = ReadingBuffer(path)
        f = Forwarder(buf, settings_for(broker, compression))
        t0 = time.perf_counter()
        f.start()
        while f.stats.forwarded_readings < n:
            time.sleep(0.005)
        buf.flush()
        dt = time.perf_counter() - t0
        f.stop()
        left = buf.stats().pending_readings
        buf.close()
    return {"readings": n, "seconds": dt, "rate": n / dt, "messages": f.stats.published_batches,
            "bytes": f.stats.payload_bytes, "values": f.stats.forwarded_values, "left": left}  # fmt: skip


def run_naive(work: str, n: int) -> dict:
    path = os.path.join(work, "naive.db")
    fill(path, n)
    with MosquittoBroker(work, name="naive") as broker:
        buf = ReadingBuffer(path)
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.connect(broker.host, broker.port)
        c.loop_start()
        t0 = time.perf_counter()
        sent = 0
        nbytes = 0
        while (claim := buf.claim(1)) is not None:
            row = claim.rows[0]
            for one in row.readings:
                payload = senml.encode_pack([(row.dev_eui, [one])])
                info = c.publish("edge/naive/up", payload, qos=1)
                info.wait_for_publish(10)
                sent += 1
                nbytes += len(payload)
            buf.ack(claim.ids)
            buf.flush()  # delete it now, one transaction per row (one reading a row here)
        dt = time.perf_counter() - t0
        c.loop_stop()
        c.disconnect()
        buf.close()
    return {"readings": sent, "seconds": dt, "rate": sent / dt, "messages": sent, "bytes": nbytes,
            "values": sent * 4, "left": 0}  # fmt: skip


def run_bridge(work: str, n: int) -> dict:
    remote_port = free_port()
    remote = MosquittoBroker(work, name="remote", port=remote_port)
    bridge_conf = (
        "connection platform\naddress 127.0.0.1:%d\ntopic edge/# out 1\ncleansession false\n"
        "bridge_protocol_version mqttv50\nrestart_timeout 1\nmax_queued_messages 0\nmax_inflight_messages 20\n"
        % remote_port
    )
    local = MosquittoBroker(work, name="local", extra_conf=bridge_conf)
    local.start()
    # the platform is down: the gateway publishes its readings into the local broker
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(local.host, local.port)
    pub.loop_start()
    nbytes = 0
    last = None
    for i in range(n):
        r = reading(i)
        p = senml.encode_pack([(r.dev_eui, [(r.seq, r.t, r.values)])])
        nbytes += len(p)
        last = pub.publish("edge/bridge/up", p, qos=1)
        if i % 1000 == 999:
            last.wait_for_publish(30)
    if last is not None:
        last.wait_for_publish(30)
    pub.loop_stop()
    pub.disconnect()
    got = [0]
    first: list[float] = []
    done = threading.Event()

    def on_message(c, u, m):
        if not first:
            first.append(time.perf_counter())
        got[0] += 1
        if got[0] >= n:
            done.set()

    remote.start()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect(remote.host, remote.port)
    sub.subscribe("edge/#", qos=1)
    sub.loop_start()
    # the bridge reconnects by itself (restart_timeout 1 s); measured from its first message
    done.wait(600)
    dt = time.perf_counter() - (first[0] if first else time.perf_counter())
    sub.loop_stop()
    local.stop()
    remote.stop()
    return {"readings": got[0], "seconds": dt, "rate": got[0] / dt, "messages": n, "bytes": nbytes,
            "values": n * 4, "left": n - got[0]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--naive-readings", type=int, default=20_000)
    ap.add_argument("--bridge-readings", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as work:
        rows = [
            ("edge forwarder (batches)", run_edge(work, args.readings)),
            ("edge forwarder, compression = deflate", run_edge(work, args.readings, "deflate")),
            ("naive (1 message/reading)", run_naive(work, args.naive_readings)),
            ("mosquitto bridge", run_bridge(work, args.bridge_readings)),
        ]
    edge_rate = rows[0][1]["rate"]
    print("\n(a) drain of a backlog to a local Mosquitto, QoS 1 (%d CPUs, %s)" % (os.cpu_count(), sys.platform))
    print("| publisher | readings | seconds | readings/s | × naive | messages | left in store |")
    print("|---|---|---|---|---|---|---|")
    naive = rows[2][1]["rate"]
    for name, r in rows:
        print("| %s | %d | %.2f | %.0f | %.1f | %d | %d |" % (
            name, r["readings"], r["seconds"], r["rate"], r["rate"] / naive, r["messages"], r["left"]))  # fmt: skip
    print("\nedge forwarder: %.0f readings/s = %.1f × naive" % (edge_rate, edge_rate / naive))
    live = [reading(i) for i in range(DEVICES)]
    live_bytes = sum(len(senml.encode_pack([(r.dev_eui, [(r.seq, r.t, r.values)])])) for r in live)
    print("\n(b) MQTT payload bytes per measured value")
    print("| traffic | payload bytes | values | bytes/value |")
    print("|---|---|---|---|")
    row = "| %s | %d | %d | %.2f |"
    for label, r in (("", rows[0][1]), (", compression = deflate", rows[1][1])):
        name = "backlog drain, batches of up to 1000 readings of 4 values" + label
        print(row % (name, r["bytes"], r["values"], r["bytes"] / r["values"]))
    print(row % ("live, one reading of 4 values per message", live_bytes, 4 * len(live), live_bytes / (4 * len(live))))
    plain, packed, values = noisy_packs(args.readings)
    name = "random-walk values, 5 a reading, batches of 1000, encoded as the forwarder does"
    print(row % (name, plain, values, plain / values))
    print(row % (name + ", deflate", packed, values, packed / values))


if __name__ == "__main__":
    main()
