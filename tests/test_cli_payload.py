"""``edge payload`` through the installed console script, as a technician runs it."""

import json
import subprocess

import pytest

VECTORS = json.load(open("tests/vectors/payload.json"))


def edge(*args, stdin=None):
    return subprocess.run(["edge", *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_decode_prints_json_readings():
    v = VECTORS["vectors"][1]
    r = edge("payload", "decode", v["hex"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == v["readings"]


def test_decode_with_ref():
    v = VECTORS["vectors"][2]
    r = edge("payload", "decode", v["hex"], "--ref-seq", str(v["ref"]["seq"]), "--ref-t", str(v["ref"]["t"]))
    assert r.returncode == 0, r.stderr
    assert [x["seq"] for x in json.loads(r.stdout)] == [1000, 1001, 1002]


def test_encode_round_trips_within_resolution():
    readings = [{"seq": 5, "t": 1700000000, "pm2_5": 12.34, "temperature": -3.456, "pressure": 101327}]
    enc = edge("payload", "encode", json.dumps(readings))
    assert enc.returncode == 0, enc.stderr
    dec = edge("payload", "decode", enc.stdout.strip())
    got = json.loads(dec.stdout)[0]
    assert got["seq"] == 5 and got["t"] == 1700000000
    assert abs(got["pm2_5"] - 12.34) <= 0.05 and abs(got["temperature"] + 3.456) <= 0.005
    assert abs(got["pressure"] - 101327) <= 5


def test_encode_reads_stdin():
    r = edge("payload", "encode", "-", stdin='{"seq": 1, "t": 2, "humidity": 50}')
    # version 1 absolute, seq 1, t 2, humidity bit, 100 x 0.5 %RH
    assert r.returncode == 0 and r.stdout.strip() == "2001020000000864"


@pytest.mark.parametrize(
    "args",
    [
        ("payload", "decode", "20e807c07321693f7b00"),  # truncated
        ("payload", "decode", "zz"),  # not hex
        ("payload", "decode", "ffff"),  # unknown version
        ("payload", "encode", '{"seq": 1, "t": 2, "humidity": 140}'),
        ("payload", "encode", "{not json"),
        ("payload", "decode", VECTORS["vectors"][0]["hex"]),  # relative frame, no ref
    ],
)
def test_bad_input_gives_one_line_error_and_exit_2(args):
    r = edge(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
