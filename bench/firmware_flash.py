"""Bytes the datalog writes to flash per reading (records + ack file), by sensor set and batch size.

    uv run python bench/firmware_flash.py      (also runs on MicroPython: the figure is the same)

Readings as the aggregator makes them (values vary, every quantity of the set present), the
gateway acknowledging after every reading as in the heap bench. Application bytes handed to file
writes: littlefs adds its own metadata and rewrites the last partial block of a file on append,
which is exactly why records are batched.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from firmware.datalog import Datalog  # noqa: E402

SETS = {
    "pm+th": ("pm2_5", "pm10", "temperature", "humidity"),
    "typical": ("pm2_5", "pm10", "temperature", "humidity", "laeq", "lamin", "lamax", "l10", "l50", "l90"),
    "full": (
        "pm1", "pm2_5", "pm4", "pm10", "temperature", "humidity", "pressure",
        "laeq", "lamin", "lamax", "l10", "l50", "l90", "count_in", "count_out",
    ),
}  # fmt: skip
VALUE = {"temperature": 21.37, "humidity": 48.5, "pressure": 101320.0, "count_in": 17.0, "count_out": 4.0}
N = 288


class Stash:
    def __init__(self):
        self.data = None

    def load(self):
        return self.data

    def save(self, data):
        self.data = data


def run(quantities, batch, d):
    if os.path.isdir(d):
        shutil.rmtree(d)
    log = Datalog(d, 262144, batch, Stash() if batch > 1 else None)
    start = log.bytes_written  # the new log's ack file
    for i in range(N):
        r = {"t": 1763800000 + 300 * i}
        for q in quantities:
            r[q] = VALUE.get(q, 10.0 + (i * 7 % 50) / 10)
        log.ack(log.append(r))
    log.flush()
    return (log.bytes_written - start) / N


def main():
    d = "/tmp/edge-flash-bench"
    for name in SETS:
        row = ["%-8s" % name]
        for batch in (1, 4, 8, 16):
            row.append("batch %2d: %5.1f B" % (batch, run(SETS[name], batch, d)))
        print("  ".join(row))


main()
