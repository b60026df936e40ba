# What edge.payload.encode() allocates for the datalog's batch record, on the MicroPython VM:
#   node tests/mpvm/run.mjs script bench/firmware_encode.py
# (the largest single allocation of the node loop; see docs/firmware.md)
import gc

from edge import payload

ALL = ("pm1", "pm2_5", "pm4", "pm10", "temperature", "humidity", "pressure")
ALL += ("laeq", "lamin", "lamax", "l10", "l50", "l90", "count_in", "count_out")


def batch(n):
    out = []
    for i in range(n):
        r = {"seq": 1000 + i, "t": 1763800000 + 300 * i}
        for q in ALL:
            r[q] = 101300.0 if q == "pressure" else 50.0
        out.append(r)
    return out


for n in (1, 4, 8):
    rs = batch(n)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    f = payload.encode(rs)
    used = gc.mem_alloc() - a
    gc.enable()
    print("encode %d full readings: %d bytes allocated for a %d-byte frame" % (n, used, len(f)))
