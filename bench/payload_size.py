"""Bytes on the radio: edge payload v1 against Cayenne LPP and JSON, for the same readings.

Run: uv run python bench/payload_size.py

Cayenne LPP has no PM, dB or counter type: the comparison uses its Analog Input type (0x02, signed
0.01 steps, so it can hold only -327.68..327.67: PM above 327 µg/m³ or counts above 32767 do not
fit) and the Unix Time type (0x85, 4 bytes, an extension of the ElectronicCats CayenneLPP library)
for the measurement time; LPP has no sequence number. Each LPP value costs a channel byte and a
type byte. Several readings go on different channels.
"""

import json
import struct

from edge import payload

T = 1763800000
READING = {"seq": 1000, "t": T, "pm2_5": 12.3, "pm10": 20.1, "laeq": 55.4,
           "temperature": 21.37, "humidity": 48.5, "count_in": 17}  # fmt: skip

# A postal van's reading: PM and the position of its GNSS fix.
MOBILE = {"seq": 31, "t": T, "pm2_5": 14.2, "pm10": 22.9, "latitude": 43.61092, "longitude": 3.87723}

# LPP type codes (Cayenne LPP; 0x85 from the ElectronicCats extension).
LPP_ANALOG_IN, LPP_TEMPERATURE, LPP_HUMIDITY, LPP_UNIX_TIME = 0x02, 0x67, 0x68, 0x85
LPP_GPS = 0x88  # latitude, longitude in 0.0001 degree and altitude in 0.01 m, 3 signed bytes each


def lpp_mobile(r, with_time):
    out = bytearray()
    for channel, name in enumerate(("pm2_5", "pm10")):
        out += bytes([channel, LPP_ANALOG_IN]) + struct.pack(">h", round(r[name] * 100))
    out += bytes([2, LPP_GPS])
    for v in (round(r["latitude"] * 10000), round(r["longitude"] * 10000), 0):
        out += struct.pack(">i", v)[1:]
    if with_time:
        out += bytes([3, LPP_UNIX_TIME]) + struct.pack(">I", r["t"])
    return bytes(out)


def lpp_encode(readings, with_time):
    out = bytearray()
    channel = 0
    for r in readings:
        for name in ("pm2_5", "pm10", "laeq", "count_in"):
            out += bytes([channel, LPP_ANALOG_IN]) + struct.pack(">h", round(r[name] * 100))
            channel += 1
        out += bytes([channel, LPP_TEMPERATURE]) + struct.pack(">h", round(r["temperature"] * 10))
        channel += 1
        out += bytes([channel, LPP_HUMIDITY, round(r["humidity"] * 2)])
        channel += 1
        if with_time:
            out += bytes([channel, LPP_UNIX_TIME]) + struct.pack(">I", r["t"])
            channel += 1
    return bytes(out)


def row(label, readings, ref):
    return (
        label,
        len(payload.encode(readings, ref)),
        len(payload.encode(readings)),
        len(lpp_encode(readings, False)),
        len(lpp_encode(readings, True)),
        len(json.dumps(readings if len(readings) > 1 else readings[0], separators=(",", ":"))),
    )


def main():
    three = [dict(READING, seq=1000 + i, t=T + 300 * i) for i in range(3)]
    rows = [
        row("1 reading, 6 quantities", [READING], {"seq": 999, "t": T + 30}),
        row("3 consecutive readings", three, {"seq": 1000, "t": T + 605}),
    ]
    head = ("data", "edge v1 (ref)", "edge v1 (abs)", "LPP (no time)", "LPP + unix time", "JSON")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| %s | %d B | %d B | %d B | %d B | %d B |" % r)
    print("\nedge v1 carries seq and time for every reading; LPP carries neither seq nor (without the")
    print("extension) time, and its analog type cannot hold PM above 327.67 ug/m3.")
    m = MOBILE
    ref = {"seq": 30, "t": T + 30}
    print("\n| mobile reading (pm2_5, pm10, latitude, longitude) | edge v1 (ref) | edge v1 (abs) |"
          " LPP + GPS (no time) | LPP + GPS + unix time | JSON |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    print("| with the fix's position | %d B | %d B | %d B | %d B | %d B |" % (
        len(payload.encode([m], ref)), len(payload.encode([m])), len(lpp_mobile(m, False)),
        len(lpp_mobile(m, True)), len(json.dumps(m, separators=(",", ":")))))  # fmt: skip
    nofix = {k: v for k, v in m.items() if k not in ("latitude", "longitude")}
    print("| no fix: no position | %d B | %d B | - | - | %d B |" % (
        len(payload.encode([nofix], ref)), len(payload.encode([nofix])),
        len(json.dumps(nofix, separators=(",", ":")))))  # fmt: skip
    print("\nedge v1 positions are 1e-5 degree (about 1.1 m); LPP GPS is 1e-4 degree (about 11 m).")


if __name__ == "__main__":
    main()
