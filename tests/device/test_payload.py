# Node payload v1 against the shared vector file; runs on CPython (pytest) and on the MicroPython VM.
from edge import payload, vocab
from tests.device.mptest import raises, read_json

VECTORS = "tests/vectors/payload.json"


def _hex(data):
    return "".join("%02x" % b for b in data)


def _close(a, b, name):
    # JSON float parsing may differ in the last bit between interpreters; the wire grid is far coarser.
    if name in vocab.META_KEYS:
        return a == b
    return abs(a - b) <= vocab.resolution(name) / 100


def _same_readings(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if sorted(g.keys()) != sorted(w.keys()):
            return False
        for k in w:
            if not _close(g[k], w[k], k):
                return False
    return True


def test_vectors_encode_to_the_same_bytes():
    data = read_json(VECTORS)
    assert len(data["vectors"]) >= 8
    for v in data["vectors"]:
        got = _hex(payload.encode(v["readings"], v["ref"]))
        assert got == v["hex"], "%s: %s != %s" % (v["name"], got, v["hex"])


def test_vectors_decode_to_the_same_readings():
    for v in read_json(VECTORS)["vectors"]:
        got = payload.decode(bytes.fromhex(v["hex"]), v["ref"])
        assert _same_readings(got, v["readings"]), "%s: %r" % (v["name"], got)
        for r in got:
            assert isinstance(r["seq"], int) and isinstance(r["t"], int)


def test_seq_window_edges_decode_as_documented():
    data = read_json(VECTORS)
    assert len(data["decode_only"]) >= 4
    for v in data["decode_only"]:
        got = payload.decode(bytes.fromhex(v["hex"]), v["ref"])
        assert _same_readings(got, v["readings"]), "%s: %r" % (v["name"], got)


def test_half_way_and_band_values_encode_to_the_vector_bytes():
    for v in read_json(VECTORS)["rounding"]:
        got = _hex(payload.encode(v["reading"]))
        assert got == v["hex"], "%s: %s != %s" % (v["name"], got, v["hex"])


def test_corrupt_frames_raise_the_documented_error():
    for e in read_json(VECTORS)["decode_errors"]:
        with raises(payload.PayloadError) as info:
            payload.decode(bytes.fromhex(e["hex"]), e["ref"])
        assert type(info.value).__name__ == e["error"], "%s: got %r" % (e["name"], info.value)


def test_invalid_readings_raise_the_documented_error():
    for e in read_json(VECTORS)["encode_errors"]:
        with raises(payload.PayloadError) as info:
            payload.encode(e["readings"], e["ref"])
        assert type(info.value).__name__ == e["error"], "%s: got %r" % (e["name"], info.value)


def test_six_quantity_reading_fits_16_bytes():
    r = {"seq": 77, "t": 1700000000, "pm2_5": 999.9, "pm10": 999.9, "laeq": 130.0,
         "temperature": -40.0, "humidity": 100.0, "count_in": 65535}  # fmt: skip
    assert len(payload.encode(r, {"seq": 70, "t": 1700000100})) <= 16


def test_every_mutated_frame_decodes_or_raises_a_payload_error():
    base = bytes.fromhex(read_json(VECTORS)["vectors"][2]["hex"])
    ref = {"seq": 1000, "t": 1763800605}
    for i in range(len(base)):
        for flip in (0x01, 0x10, 0x80, 0xFF):
            frame = bytearray(base)
            frame[i] ^= flip
            try:
                payload.decode(bytes(frame), ref)
            except payload.PayloadError:
                pass
    for n in range(len(base)):
        with raises(payload.PayloadError):
            payload.decode(base[:n], ref)


def test_rounding_is_half_away_from_zero_on_the_wire_grid():
    r = payload.decode(payload.encode({"seq": 1, "t": 5, "temperature": -0.005, "pm2_5": 0.05}))[0]
    assert r["temperature"] == -0.01 and r["pm2_5"] == 0.1


def test_max_readings_in_respects_the_limit():
    rs = [{"seq": i, "t": 1000 + 300 * i, "pm2_5": 1.0, "pm10": 2.0} for i in range(16)]
    ref = {"seq": 0, "t": 1000 + 300 * 15}
    n = payload.max_readings_in(rs, 51, ref)
    assert len(payload.encode(rs[:n], ref)) <= 51 < len(payload.encode(rs[: n + 1], ref))


def test_encode_into_a_preallocated_buffer_matches_encode():
    v = read_json(VECTORS)["vectors"][3]
    buf = bytearray(payload.MAX_FRAME_BYTES)
    n = payload.encode_into(buf, v["readings"], v["ref"])
    assert _hex(buf[:n]) == v["hex"]
    with raises(payload.FrameTooLarge):
        payload.encode_into(bytearray(n - 1), v["readings"], v["ref"])


def test_largest_possible_frame_fits_max_frame_bytes():
    full = {}
    for q in vocab.QUANTITIES:
        full[q[0]] = q[7]
    # the widest encodable steps: seq jumps of +-2^31 and time 2^27 off the period, 5-byte varints,
    # and a bitmap in every reading
    rs = []
    t = 0
    for i in range(payload.MAX_READINGS):
        if i == 1:
            t += 1 << 20  # the period
        elif i > 1:
            t += (1 << 20) + ((1 << 27) if i % 2 == 0 else -(1 << 27) - 1)
        r = dict(full)
        if i % 2:
            del r["count_out"]  # a change of quantities: every reading carries its 3-byte bitmap
        r["seq"] = (i % 2) * 0x7FFFFFFF
        r["t"] = t
        rs.append(r)
    n = len(payload.encode(rs))
    assert payload.MAX_FRAME_BYTES - 40 < n <= payload.MAX_FRAME_BYTES


def test_is_relative_tells_frames_sent_against_a_ref():
    r = {"seq": 7, "t": 1763800000, "pm2_5": 1.5}
    assert payload.is_relative(payload.encode([r], {"seq": 7, "t": 1763800060}))
    assert not payload.is_relative(payload.encode([r]))
    assert not payload.is_relative(b"")
