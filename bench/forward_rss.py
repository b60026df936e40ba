"""Benchmark (d) of docs/gateway-forward.md: peak RSS of the forwarder process with a 1,000,000-reading backlog.

    uv run python bench/forward_rss.py [--readings 1000000]

Fills a buffer with the backlog (one reading of four values per row, like uplinks of nodes that
send one reading each), then a child process opens it and drains it to a local Mosquitto with
the forwarder. The parent samples the child's VmRSS every 0.1 s and prints it by drain progress,
with the peak (VmHWM) at the end: the memory must stay flat, not grow with the backlog.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gateway.store import codec  # noqa: E402
from gateway.store.buffer import ReadingBuffer  # noqa: E402
from gateway.store.records import Reading, Uplink  # noqa: E402
from tests.mqtt_broker import MosquittoBroker  # noqa: E402

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from gateway import config
from gateway.forward.forwarder import Forwarder
from gateway.forward.settings import from_config
from gateway.store.buffer import ReadingBuffer
url, path = sys.argv[1], sys.argv[2]
buf = ReadingBuffer(path)
total = buf.stats().pending_readings
print("open", total, flush=True)
f = Forwarder(buf, from_config(config.from_dict({"gateway": {"id": "bench"}, "mqtt": {"url": url}})))
f.start()
while f.stats.forwarded_readings < total:
    print("progress", f.stats.forwarded_readings, flush=True)
    time.sleep(0.1)
f.stop()
buf.close()
print("done", total, flush=True)
"""


def fill(path: str, n: int) -> None:
    buf = ReadingBuffer(path)
    rx0 = int(time.time()) - n // 20
    patterns = []
    for k in range(997):
        dev = "70b3d57ed%07x" % (k % 50)
        r = Reading(dev, k, rx0, {"pm2_5": k / 10, "pm10": (k * 3 % 1500) / 10, "temperature": 20 + k % 100 / 100,
                                  "humidity": 40 + k % 40 / 2})  # fmt: skip
        up = Uplink(dev, "26011a%02x" % (k % 50), k, 2, bytes(24), rx0, "b827ebfffe000001", -97.0, 7.25, 868100000,
                    "SF9BW125")  # fmt: skip
        patterns.append((dev, codec.encode_readings(rx0, [r]), codec.encode_uplink(up)))
    chunk = []
    for i in range(n):
        dev, data, meta = patterns[i % len(patterns)]
        chunk.append((dev, rx0 + i // 20, 1, data, meta))
        if len(chunk) == 50_000:
            buf.insert_raw(chunk)
            chunk = []
    buf.insert_raw(chunk)
    buf.close()


def status(pid: int) -> dict[str, int]:
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v, _ = line.split()
                out[k[:-1]] = int(v) * 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as work:
        path = os.path.join(work, "rss.db")
        t0 = time.perf_counter()
        fill(path, args.readings)
        fill_s = time.perf_counter() - t0
        size = os.path.getsize(path)
        with MosquittoBroker(work) as broker:
            root = os.path.join(os.path.dirname(__file__), "..")
            proc = subprocess.Popen([sys.executable, "-c", CHILD, broker.url, path, root], stdout=subprocess.PIPE,
                                    text=True)  # fmt: skip
            assert proc.stdout is not None
            samples: list[tuple[int, int]] = []  # (forwarded, rss)
            forwarded = 0
            hwm = 0
            t1 = time.perf_counter()
            open_rss = 0
            for line in proc.stdout:
                word, n = line.split()
                if word == "open":
                    open_rss = status(proc.pid)["VmRSS"]
                elif word == "progress":
                    forwarded = int(n)
                    st = status(proc.pid)
                    samples.append((forwarded, st["VmRSS"]))
                    hwm = max(hwm, st["VmHWM"])
                elif word == "done":
                    break
            drain_s = time.perf_counter() - t1
            proc.wait()
    mb = 1024 * 1024
    print("\n(d) forwarder process RSS with a %d-reading backlog (database %.0f MB, filled in %.0f s)" % (
        args.readings, size / mb, fill_s))  # fmt: skip
    print("| drained | RSS MB |")
    print("|---|---|")
    print("| after open (0 %%) | %.1f |" % (open_rss / mb))
    for frac in (0.1, 0.25, 0.5, 0.75, 0.95):
        pts = [s for s in samples if s[0] >= frac * args.readings]
        if pts:
            print("| %d %% | %.1f |" % (frac * 100, pts[0][1] / mb))
    print("| peak (VmHWM) | %.1f |" % (hwm / mb))
    print("\ndrained %d readings in %.1f s (%.0f readings/s)" % (args.readings, drain_s, args.readings / drain_s))


if __name__ == "__main__":
    main()
