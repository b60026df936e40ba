"""Property tests of the node payload codec (CPython only: hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from edge import payload, vocab


def _quantity_value(q):
    name, _, _, _, num, den, lo, hi = q
    step = num / den
    # k * num / den, not k * step: 18000000 * 1e-5 is 180.00000000000003, outside the range
    return st.integers(round(lo / step), round(hi / step)).map(lambda k: k * num / den)


def _reading(seq, t):
    fields = {q[0]: _quantity_value(q) for q in vocab.QUANTITIES}
    return st.fixed_dictionaries({}, optional=fields).map(lambda d: dict(d, seq=seq, t=t))


@st.composite
def frames(draw):
    n = draw(st.integers(1, payload.MAX_READINGS))
    seq0 = draw(st.integers(0, 2**32 - 1 - 40))
    t0 = draw(st.integers(0, 2**32 - 1 - 10**6))
    readings = []
    seq, t = seq0, t0
    for _ in range(n):
        readings.append(draw(_reading(seq, t)))
        seq = min(seq + draw(st.integers(1, 3)), 2**32 - 1)
        t = t + draw(st.sampled_from([300, 300, 300, 60, 301, 3600]))
    use_ref = draw(st.booleans())
    ref = None
    if use_ref:
        ref_seq = min(2**32 - 1, max(0, seq0 + draw(st.integers(-32768, 32767))))  # a ref seq is a u32 too
        ref = {"seq": ref_seq, "t": t + draw(st.integers(0, 10**5))}
        if not -32768 <= seq0 - ref["seq"] < 32768:
            ref = None
    return readings, ref


def _assert_within_resolution(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        assert g["seq"] == w["seq"] and g["t"] == w["t"]
        for name in g.keys() - {"seq", "t"}:
            assert abs(g[name] - w[name]) <= vocab.resolution(name) / 2 + 1e-9, name


@settings(max_examples=400, deadline=None)
@given(frames())
def test_round_trip_restores_seq_time_exactly_and_values_within_resolution(case):
    readings, ref = case
    data = payload.encode(readings, ref)
    _assert_within_resolution(payload.decode(data, ref), readings)


@settings(max_examples=200, deadline=None)
@given(frames())
def test_decoded_frames_re_encode_to_the_same_bytes(case):
    readings, ref = case
    data = payload.encode(readings, ref)
    assert payload.encode(payload.decode(data, ref), ref) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_a_payload_error(data):
    try:
        payload.decode(data, {"seq": 100, "t": 10**9})
    except payload.PayloadError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(vocab.QUANTITIES), st.floats(allow_nan=True, allow_infinity=True))
def test_values_outside_the_range_raise(q, value):
    lo, hi = q[6], q[7]
    reading = {"seq": 1, "t": 1, q[0]: value}
    if lo <= value <= hi:
        payload.encode(reading)
    else:
        try:
            payload.encode(reading)
        except payload.ValueOutOfRange:
            return
        raise AssertionError("accepted %s = %r" % (q[0], value))


@settings(max_examples=150, deadline=None)
@given(frames(), st.integers(5, 250))
def test_max_readings_in_agrees_with_encoding_every_prefix(case, limit):
    readings, ref = case
    want = 0
    for n in range(1, len(readings) + 1):
        if len(payload.encode(readings[:n], ref)) <= limit:
            want = n
        else:
            break
    assert payload.max_readings_in(readings, limit, ref) == want
