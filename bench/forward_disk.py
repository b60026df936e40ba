"""Benchmark (c) of docs/gateway-forward.md: bytes written to disk per reading at 20 readings/s, steady state.

    uv run python bench/forward_disk.py [--seconds 20] [--warmup 5] [--commits 0.02,0.2,1,5]
                                        [--delete-interval S]

A child process runs the buffer and the forwarder as the agent does: uplinks (one reading of
four values each, with radio metadata and a 24-byte PHYPayload) are committed with
ReadingBuffer.commit_uplinks in group commits every COMMIT interval, while the forwarder drains
them to a local Mosquitto and deletes them after their PUBACK. The parent reads the child's
/proc/<pid>/io write_bytes (page-cache blocks the process dirtied, 4 KiB each time: WAL appends,
checkpoints, deletes) before and after the measurement window. The data directory is on a real
disk (BENCH_DIR, default /var/tmp), not tmpfs, where write_bytes would stay 0.

--delete-interval sets the forwarder's [buffer] delete_interval_s (its own flushes of acknowledged
rows between commits), to see what they cost. It measures the buffer and the forwarder only:
the agent's own files (metrics.json, the device registry) add their writes on top.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.mqtt_broker import MosquittoBroker  # noqa: E402

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[5])
from gateway import config
from gateway.forward.forwarder import Forwarder
from gateway.forward.settings import from_config
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading, Uplink
url, path, rate, commit_s = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
raw = {"gateway": {"id": "bench"}, "mqtt": {"url": url}}
if sys.argv[6]:
    raw["buffer"] = {"delete_interval_s": float(sys.argv[6])}
cfg = config.from_dict(raw)
buf = ReadingBuffer(path)
f = Forwarder(buf, from_config(cfg))
f.start()
n = 0
pending = []
start = time.monotonic()
next_commit = start + commit_s
print("ready", flush=True)
while True:
    now = time.monotonic()
    due = start + n / rate
    if now < due:
        time.sleep(min(due, next_commit) - now if min(due, next_commit) > now else 0)
        now = time.monotonic()
    while start + n / rate <= now:
        dev = "70b3d57ed%07x" % (n % 20)
        t = int(time.time())
        up = Uplink(dev, "2601%04x" % (n % 20), n // 20, 2, bytes(24), time.time(), "b827ebfffe000001",
                    -97.0, 7.25, 868100000, "SF9BW125")
        r = Reading(dev, n // 20, t, {"pm2_5": (n % 900) / 10, "pm10": (n % 1500) / 10,
                                      "temperature": 20 + (n % 100) / 100, "humidity": 40 + (n % 40) / 2})
        pending.append((up, [r]))
        n += 1
    if now >= next_commit:
        if pending:
            buf.commit_uplinks(pending)
            pending = []
        next_commit += commit_s
        print(n, flush=True)
"""


def write_bytes(pid: int) -> int:
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("no write_bytes")


def measure(
    work: str, broker: MosquittoBroker, commit_s: float, warmup: float, seconds: float, rate: float, delete_s: str
) -> tuple[float, int]:
    path = os.path.join(work, "disk-%g.db" % commit_s)
    root = os.path.join(os.path.dirname(__file__), "..")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, broker.url, path, str(rate), str(commit_s), root, delete_s],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(warmup)
    w0, t0 = write_bytes(proc.pid), time.monotonic()
    time.sleep(seconds)
    w1, t1 = write_bytes(proc.pid), time.monotonic()
    proc.kill()
    proc.wait()
    readings = rate * (t1 - t0)
    return readings, w1 - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--commits", default="0.02,0.2,1,5", help="group-commit intervals to try, seconds")
    ap.add_argument("--delete-interval", default="", help="[buffer] delete_interval_s (default: the config's)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as work:
        with MosquittoBroker(work) as broker:
            for c in (float(x) for x in args.commits.split(",")):
                readings, written = measure(work, broker, c, args.warmup, args.seconds, args.rate, args.delete_interval)
                rows.append((c, readings, written))
    print("\n(c) bytes written to disk per reading, %.0f readings/s, forwarder draining to Mosquitto" % args.rate)
    print("| group commit every | readings | bytes written | bytes/reading |")
    print("|---|---|---|---|")
    for c, readings, written in rows:
        print("| %g s | %.0f | %d | %.0f |" % (c, readings, written, written / readings))


if __name__ == "__main__":
    main()
