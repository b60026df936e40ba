"""Regenerate tests/vectors/payload.json from the hand-chosen inputs below.

The readings are chosen by hand (on the wire grid, so decoding gives them back exactly); the hex is
what edge.payload encodes. Vector 'six-quantities-rel' is checked byte by byte in docs/payload.md,
and tests/test_payload_layout.py re-derives several vectors from the layout with struct alone, so a
change to the codec cannot silently rewrite this file into agreement with itself.
Run: uv run python scripts/make_payload_vectors.py
"""

import json
from pathlib import Path

from edge import payload as p

T = 1763800000  # 2025-11-22 08:26:40 UTC
BASE = {"pm2_5": 12.3, "pm10": 20.1, "temperature": 21.37, "humidity": 48.5, "laeq": 55.4, "count_in": 17}
ALL = {
    "pm1": 3.2, "pm2_5": 5.5, "pm4": 7.1, "pm10": 9.9, "laeq": 61.2, "lamin": 48.0, "lamax": 83.7,
    "l10": 65.1, "l50": 58.3, "l90": 51.0, "temperature": -4.25, "humidity": 91.5, "pressure": 101330.0,
    "count_in": 1234, "count_out": 1187,
}  # fmt: skip

CASES = [
    ("six-quantities-rel", "the 16-byte six-quantity reading of docs/architecture.md, sent 30 s after measuring",
     [dict(BASE, seq=1000, t=T)], {"seq": 999, "t": T + 30}),
    ("six-quantities-abs", "the same reading with absolute seq and time (no ref)",
     [dict(BASE, seq=1000, t=T)], None),
    ("three-consecutive-rel", "three consecutive 5-minute readings: one link byte each",
     [dict(BASE, seq=1000 + i, t=T + 300 * i) for i in range(3)], {"seq": 1000, "t": T + 605}),
    ("all-quantities-abs", "every quantity of the first fifteen, three bitmap bytes",
     [dict(ALL, seq=7, t=T)], None),
    ("empty-reading-abs", "every sensor failed: seq and time, no quantity",
     [{"seq": 42, "t": T}], None),
    ("gap-jitter-sets-rel", "a seq gap, a late reading and a change of quantities",
     [dict(seq=500, t=T, pm2_5=8.0, pm10=11.0, humidity=85.0),
      dict(seq=501, t=T + 300, pm2_5=9.0, pm10=12.5, humidity=86.0),
      dict(seq=505, t=T + 1502, temperature=-12.5)], {"seq": 505, "t": T + 1510}),
    ("seq-wrap-rel", "seq crosses 2^16: low 16 bits 4 decode near ref seq 65530",
     [dict(seq=65540, t=T, count_in=3, count_out=9)], {"seq": 65530, "t": T}),
    ("backfill-old-rel", "backfill of readings a day old: the age varint takes 3 bytes",
     [dict(seq=12000 + i, t=T - 86400 + 300 * i, pm2_5=30.0 + i, pm10=45.0) for i in range(4)],
     {"seq": 12290, "t": T}),
    ("limits-abs", "edge values of the ranges and the largest seq and time",
     [dict(seq=4294967295, t=4294967295, pm2_5=5000.0, temperature=-60.0, humidity=100.0,
           pressure=30000.0, laeq=0.0, count_out=65535)], None),
    ("sixteen-readings-rel", "the largest frame: 16 one-minute counter readings",
     [dict(seq=20 + i, t=T + 60 * i, count_in=i, count_out=2 * i) for i in range(16)],
     {"seq": 20, "t": T + 960}),
    ("out-of-order-rel", "live reading first, then backlog: negative steps",
     [dict(seq=900, t=T + 600, pm2_5=4.0), dict(seq=880, t=T, pm2_5=6.5), dict(seq=881, t=T + 30, pm2_5=6.0)],
     {"seq": 900, "t": T + 620}),
    ("mobile-pm-position-abs", "a postal van's reading: PM and the position of its fix",
     [dict(seq=31, t=T, pm2_5=14.2, pm10=22.9, latitude=43.61092, longitude=3.87723)], None),
    ("mobile-no-fix-rel", "the same van in a street canyon: no fix, so no position",
     [dict(seq=32, t=T + 60, pm2_5=15.0, pm10=24.1)], {"seq": 31, "t": T + 70}),
    ("flood-level-rel", "a river gauge: echo distance and water level above the datum",
     [dict(seq=300 + i, t=T + 600 * i, distance=2.412 - 0.1 * i, water_level=0.588 + 0.1 * i) for i in range(3)],
     {"seq": 302, "t": T + 1210}),
    ("container-light-abs", "a container's fill level, a negative water level and street lighting",
     [dict(seq=5, t=T, distance=0.35, fill_level=72.5, water_level=-1.25, illuminance=18.4)], None),
]  # fmt: skip

DECODE_ERRORS = [
    ("empty", "", "FrameTruncated"),
    ("version-2", "40e8071e3f", "UnsupportedVersion"),
    ("version-0", "00", "UnsupportedVersion"),
    ("truncated-value", "20e807c07321693f7b00c9005908612a0211", "FrameTruncated"),
    ("trailing-byte", "20e807c07321693f7b00c9005908612a02110000", "FrameCorrupt"),
    ("unknown-quantity-bit", "202ac073216980808001", "UnknownQuantity"),
    ("humidity-over-100", "202ac073216908ff", "FrameCorrupt"),
    ("reserved-link-bits", "212ac0732169000008", "FrameCorrupt"),
    ("bitmap-too-long", "202ac0732169ffffffff7f", "FrameCorrupt"),
    ("varint-too-long", "20ffffffffff7f", "FrameCorrupt"),
]
RELATIVE_WITHOUT_REF = ("relative-without-ref", "RefError")
# Corrupt frames that need a ref: (name, hex, ref, error)
DECODE_ERRORS_REL = [
    ("first-seq-over-2^32", "30050000", {"seq": 4294967295, "t": T}, "FrameCorrupt"),
    ("age-before-epoch", "30000080010000", {"seq": 0, "t": 100}, "FrameCorrupt"),
    ("varint-over-32-bits", "20ffffffff1f", None, "FrameCorrupt"),
    ("trailing-bytes-after-empty-reading", "3000000000ff", {"seq": 0, "t": T}, "FrameCorrupt"),
    ("bitmap-of-5-bytes", "30000000808080807f", {"seq": 0, "t": T}, "FrameCorrupt"),
    ("ref-seq-over-2^32", "30000000", {"seq": 4294967296, "t": T}, "RefError"),
]

# Frames an encoder never writes but a decoder must read: the seq window edges of docs/payload.md
# (name, note, hex, ref)
DECODE_ONLY = [
    ("seq-window-floor", "ref.seq 0: low bits ffff are seq 65535 (the window starts at 0, never below)",
     "30ffff0000", {"seq": 0, "t": T}),
    ("seq-window-low-ref", "ref.seq 100: low bits fde8 are 65000, not -536",
     "30e8fd0000", {"seq": 100, "t": T}),
    ("seq-window-bottom", "ref.seq 40000: window [7232, 72768), low bits 1c40 are 7232",
     "30401c0000", {"seq": 40000, "t": T}),
    ("seq-window-top", "ref.seq 40000: low bits 1c3f are 72767 (7231 would be outside)",
     "303f1c0000", {"seq": 40000, "t": T}),
    ("seq-window-top-of-u32", "ref.seq 2^32-1: low bits ffff are 4294967295",
     "30ffff0000", {"seq": 4294967295, "t": T}),
]  # fmt: skip

# Half-way and band values of docs/payload.md "Rounding": (name, reading without seq/t)
ROUNDING = [
    ("pm-half-way", {"pm2_5": 0.15}),  # x = 1.5 -> 2
    ("pm-half-way-high", {"pm10": 4999.95}),  # x = 49999.5 -> 50000
    ("temperature-negative-half-way", {"temperature": -40.925}),  # x = -4092.5 -> -4093
    ("temperature-below-band", {"temperature": 21.374843}),  # x = 2137.4843 -> 2137
    ("temperature-in-band", {"temperature": 21.374844}),  # x = 2137.4844 >= 2137 + 31/64 -> 2138
    ("humidity-quarter", {"humidity": 0.25}),  # x = 0.5 -> 1
    ("laeq-half-way", {"laeq": 55.45}),  # x = 554.5 -> 555
    ("pressure-half-way", {"pressure": 101325}),  # x = 10132.5 -> 10133
    ("count-half", {"count_in": 16.5}),  # x = 16.5 -> 17
    ("temperature-minus-zero", {"temperature": -0.004}),  # x = -0.4 -> 0
]

ENCODE_ERRORS = [
    ("unknown-name", [{"seq": 1, "t": T, "pm25": 3.0}], None, "UnknownQuantity"),
    ("humidity-101", [{"seq": 1, "t": T, "humidity": 101.0}], None, "ValueOutOfRange"),
    ("temperature-too-cold", [{"seq": 1, "t": T, "temperature": -80.0}], None, "ValueOutOfRange"),
    ("negative-pm", [{"seq": 1, "t": T, "pm10": -0.5}], None, "ValueOutOfRange"),
    ("no-seq", [{"t": T, "pm10": 1.0}], None, "PayloadError"),
    ("seventeen-readings", [{"seq": i, "t": T + i} for i in range(17)], None, "PayloadError"),
    ("seq-far-from-ref", [{"seq": 40000, "t": T}], {"seq": 0, "t": T}, "RefError"),
    ("time-after-ref", [{"seq": 1, "t": T + 10}], {"seq": 1, "t": T}, "RefError"),
    ("seq-above-encoder-window", [{"seq": 65535, "t": T}], {"seq": 0, "t": T}, "RefError"),
    ("seq-over-2^32", [{"seq": 4294967296, "t": T}], None, "PayloadError"),
    ("pm-over-range", [{"seq": 1, "t": T, "pm2_5": 5000.05}], None, "ValueOutOfRange"),
    ("value-not-a-number", [{"seq": 1, "t": T, "laeq": "loud"}], None, "ValueOutOfRange"),
]


def build():
    vectors = []
    for name, note, readings, ref in CASES:
        data = p.encode(readings, ref)
        vectors.append({"name": name, "note": note, "ref": ref, "readings": p.decode(data, ref), "hex": data.hex()})
    decode_errors = [{"name": n, "hex": h, "ref": None, "error": e} for n, h, e in DECODE_ERRORS]
    decode_errors += [{"name": n, "hex": h, "ref": ref, "error": e} for n, h, ref, e in DECODE_ERRORS_REL]
    decode_errors.append(
        {"name": RELATIVE_WITHOUT_REF[0], "hex": vectors[0]["hex"], "ref": None, "error": RELATIVE_WITHOUT_REF[1]}
    )
    encode_errors = [{"name": n, "readings": r, "ref": ref, "error": e} for n, r, ref, e in ENCODE_ERRORS]
    decode_only = [
        {"name": n, "note": note, "ref": ref, "hex": h, "readings": p.decode(bytes.fromhex(h), ref)}
        for n, note, h, ref in DECODE_ONLY
    ]
    rounding = []
    for name, values in ROUNDING:
        reading = dict(values, seq=1, t=T)
        data = p.encode(reading)
        rounding.append({"name": name, "reading": reading, "hex": data.hex(), "decoded": p.decode(data)[0]})
    return {
        "comment": "edge node payload v1 (docs/payload.md): decode(hex, ref) == readings, encode(readings, ref) == hex",
        "vectors": vectors,
        "decode_errors": decode_errors,
        "encode_errors": encode_errors,
        "decode_only": decode_only,
        "rounding": rounding,
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "payload.json"
    out.write_text(json.dumps(build(), indent=1) + "\n")
    print("wrote", out)
