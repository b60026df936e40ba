"""The vector file re-derived from docs/payload.md with struct alone, independent of edge.payload."""

import json
import struct
from pathlib import Path

VECTORS = {v["name"]: v for v in json.loads(Path("tests/vectors/payload.json").read_text())["vectors"]}
T = 1763800000


def test_six_quantities_rel_layout():
    frame = bytes([0b001_1_0000])  # version 1, REL, one reading
    frame += struct.pack("<H", 1000 & 0xFFFF) + bytes([30])  # seq low 16 bits, age 30 s (varint)
    frame += bytes([0b0011_1111])  # pm2_5, pm10, temperature, humidity, laeq, count_in
    frame += struct.pack("<HHhBHH", 123, 201, 2137, 97, 554, 17)
    assert frame.hex() == VECTORS["six-quantities-rel"]["hex"]
    assert len(frame) == 16


def test_six_quantities_abs_layout():
    frame = bytes([0b001_0_0000]) + bytes([0xE8, 0x07]) + struct.pack("<I", T)  # seq 1000 as varint
    frame += bytes([0x3F]) + struct.pack("<HHhBHH", 123, 201, 2137, 97, 554, 17)
    assert frame.hex() == VECTORS["six-quantities-abs"]["hex"]


def test_three_consecutive_layout():
    values = bytes([0x3F]) + struct.pack("<HHhBHH", 123, 201, 2137, 97, 554, 17)
    frame = bytes([0b001_1_0010]) + struct.pack("<H", 1000) + bytes([0xDD, 0x04])  # age 605 = 0x25D
    frame += bytes([0xD8, 0x04])  # period 300 zigzag 600 = 0x258
    frame += values + (b"\x07" + values[1:]) * 2  # link: same set, next seq, on period
    assert frame.hex() == VECTORS["three-consecutive-rel"]["hex"]


def test_empty_reading_layout():
    assert VECTORS["empty-reading-abs"]["hex"] == (b"\x20\x2a" + struct.pack("<I", T) + b"\x00").hex()


def test_seq_wrap_layout():
    frame = bytes([0x30]) + struct.pack("<H", 65540 & 0xFFFF) + b"\x00" + bytes([0b0110_0000])
    frame += struct.pack("<HH", 3, 9)
    assert frame.hex() == VECTORS["seq-wrap-rel"]["hex"]
    assert VECTORS["seq-wrap-rel"]["readings"][0]["seq"] == 65540
