# Heap the node payload encoder allocates, measured on the MicroPython VM:
#   node tests/mpvm/run.mjs script bench/payload_alloc.py
# (gc.mem_alloc() growth across one call; this VM's gc.collect() frees nothing inside a running
# call, so the figure is everything the call allocated.)
import gc

from edge import payload

ALL = {"pm1": 3.2, "pm2_5": 5.5, "pm4": 7.1, "pm10": 9.9, "laeq": 61.2, "lamin": 48.0, "lamax": 83.7,
       "l10": 65.1, "l50": 58.3, "l90": 51.0, "temperature": -4.25, "humidity": 91.5, "pressure": 101330.0,
       "count_in": 1234, "count_out": 1187}  # fmt: skip


def readings(n):
    out = []
    for i in range(n):
        r = dict(ALL)
        r["seq"] = 100 + i
        r["t"] = 1763800000 + 300 * i
        out.append(r)
    return out


def measure(label, fn):
    gc.collect()
    before = gc.mem_alloc()
    result = fn()
    grown = gc.mem_alloc() - before
    print("| %s | %d |" % (label, grown))
    return result


def main():
    rs = readings(8)
    ref = {"seq": 100, "t": 1763800000 + 300 * 8}
    print("| call (8 readings, 15 quantities each) | bytes allocated |")
    print("|---|---|")
    frame = measure("encode() -> bytes", lambda: payload.encode(rs, ref))
    print("| (frame size) | %d |" % len(frame))
    measure("max_readings_in(limit 222)", lambda: payload.max_readings_in(rs, 222, ref))
    if hasattr(payload, "encode_into"):
        buf = bytearray(payload.MAX_FRAME_BYTES)
        measure("encode_into(preallocated buffer)", lambda: payload.encode_into(buf, rs, ref))


main()
