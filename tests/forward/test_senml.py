"""SenML-CBOR packs: RFC 8428 resolution, integer labels, deterministic bytes, units, exact values."""

import re
from decimal import Decimal
from fractions import Fraction

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.senml import unpack
from edge import vocab
from gateway.forward import senml

DEV = "70b3d57ed0000001"
DEV2 = "70b3d57ed0000002"


def readings(n, t0=1763800000, step=60):
    return [(i, t0 + i * step, {"pm2_5": 12.3 + i / 10, "temperature": 21.37, "humidity": 48.5}) for i in range(n)]


def test_resolved_names_times_and_units_cover_every_value():
    pack = senml.encode_pack([(DEV, readings(5)), (DEV2, readings(1))])
    got = senml.resolve(pack)
    assert len(got) == 18
    names = {n for n, _, _, _ in got}
    assert "urn:dev:mac:%s:pm2_5" % DEV in names and "urn:dev:mac:%s:humidity" % DEV2 in names
    for name, t, _, unit in got:
        q = name.rsplit(":", 1)[1]
        assert unit == ("kg/m3" if q == "pm2_5" else vocab.unit(q))
        assert 1763800000 <= t <= 1763800000 + 4 * 60
    keys = [(n, t) for n, t, _, _ in got]
    assert len(set(keys)) == len(keys)  # resolved name + time is unique


def test_labels_are_the_integers_of_rfc_8428_and_only_primary_units_so_no_bver():
    records = cbor2.loads(senml.encode_pack([(DEV, readings(3)), (DEV2, readings(20))]))
    assert all(isinstance(k, int) for r in records for k in r)
    assert all(-1 not in r for r in records)  # no secondary unit: SenML version 10, bver omitted
    units = {r[k] for r in records for k in (1, -4) if k in r}
    assert units == {"kg/m3", "Cel", "%RH"}


def test_old_names_map_to_rfc_9039_names():
    assert senml.canonical_name("urn:dev:eui:70b3d57ed0000001:pm2_5") == "urn:dev:mac:70b3d57ed0000001:pm2_5"
    assert senml.canonical_name("urn:dev:mac:70b3d57ed0000001:pm2_5") == "urn:dev:mac:70b3d57ed0000001:pm2_5"
    old = cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % DEV, -3: 5, -4: "ug/m3", 2: 1.5}])
    assert senml.resolve(old) == [("urn:dev:mac:%s:pm2_5" % DEV, 5, 1.5, "ug/m3")]


def test_encoding_is_deterministic_and_canonical():
    a = senml.encode_pack([(DEV, readings(7))])
    b = senml.encode_pack([(DEV, list(reversed(readings(7))))])
    assert a == b
    assert cbor2.dumps(cbor2.loads(a), canonical=True) == a


def test_live_readings_use_one_record_per_value_and_a_backlog_uses_series():
    one = cbor2.loads(senml.encode_pack([(DEV, readings(1))]))
    assert [r.get(0) for r in one] == ["pm2_5", "temperature", "humidity"]
    many = cbor2.loads(senml.encode_pack([(DEV, readings(20))]))
    assert sum(1 for r in many if -2 in r) == 3  # one base name per quantity
    assert len(senml.encode_pack([(DEV, readings(20))])) / 60 < 13  # 12.85: exact values cost 1 byte more than floats


def test_two_readings_with_one_time_give_one_value_per_key():
    pack = senml.encode_pack([(DEV, [(1, 1763800000, {"pm10": 1.0}), (2, 1763800000, {"pm10": 2.0})])])
    assert [v for _, _, v, _ in senml.resolve(pack)] == [Decimal("2e-9")]  # 2 ug/m3 in kg/m3


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(vocab.QUANTITIES), st.integers(-(2**15), 2**16))
def test_every_value_is_exactly_the_reading(q, raw):
    name, num, den = q[0], q[4], q[5]
    sent = senml.exact_value(name, raw * num / den)  # the float the gateway stores
    scale = Fraction(1, 10**9) if q[1] == "ug/m3" else 1  # published in kg/m3
    assert Fraction(sent) == Fraction(raw * num, den) * scale
    if isinstance(sent, Decimal):  # the decimal-fraction form: normalised, only when nothing shorter is exact
        _, digits, e = sent.as_tuple()
        assert isinstance(e, int) and e < 0 and digits[-1] != 0
        assert float(sent) != sent
    assert senml.from_published(name, sent, senml.unit(name)) == raw * num / den


reading_st = st.tuples(
    st.integers(0, 2**20),
    st.integers(1763800000, 1763900000),
    st.dictionaries(st.sampled_from(vocab.NAMES), st.integers(-6000, 70000), min_size=1),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([DEV, DEV2, "70b3d57ed00000ff"]), st.lists(reading_st, min_size=1, max_size=12)),
        min_size=1,
        max_size=3,
        unique_by=lambda g: g[0],
    )
)
def test_fast_encoder_gives_the_bytes_of_canonical_cbor2(groups):
    def scaled(rs):
        out = []
        for seq, t, values in rs:
            out.append((seq, t, {q: raw * vocab.BY_NAME[q][4] / vocab.BY_NAME[q][5] for q, raw in values.items()}))
        return out

    groups = [(dev, scaled(rs)) for dev, rs in groups]
    assert senml.encode_pack(groups) == senml.reference_pack(groups)


# An independent reading of packs, from RFC 8428 and docs/platform.md rather than senml.resolve:
# section 4.6 resolution (base name, time and unit carry forward; name = bn + n, time = bt + t,
# unit = u else bu), CBOR tag 4 as RFC 8949 section 3.4.4 (cbor2 gives Decimal), RFC 9039 names.
# units of the SenML units registry (RFC 8428 section 12.1)
PRIMARY_UNITS = {"kg/m3", "dB", "Cel", "%RH", "Pa", "count", "m", "%", "lx", "lat", "lon"}
NAME = re.compile(r"urn:dev:mac:[0-9a-f]{16}:([a-z0-9_]+)")


def independent_values(pack: bytes) -> dict[tuple[str, int], tuple[Fraction, str]]:
    records = cbor2.loads(pack, tag_hook=lambda _, tag: pytest.fail("unexpected tag %d" % tag.tag))
    assert isinstance(records, list) and records
    out: dict[tuple[str, int], tuple[Fraction, str]] = {}
    base: dict[int, object] = {}
    for rec in records:
        assert set(rec) <= {-1, -2, -3, -4, 0, 1, 2, 6}
        assert rec.get(-1, 10) == 10  # version 10: no feature beyond RFC 8428
        base.update({k: rec[k] for k in (-2, -3, -4) if k in rec})
        name = str(base.get(-2, "")) + rec.get(0, "")
        assert NAME.fullmatch(name), name
        unit = rec.get(1, base.get(-4))
        assert unit in PRIMARY_UNITS
        v = rec[2]
        assert isinstance(v, int | float | Decimal) and not isinstance(v, bool)
        if isinstance(v, float):  # a float only when the value is a binary fraction
            assert Fraction(v).denominator & (Fraction(v).denominator - 1) == 0
        if isinstance(v, Decimal):  # a decimal fraction only when nothing shorter is exact
            assert Fraction(v).denominator % 5 == 0 and v.as_tuple().digits[-1] != 0
        t = base.get(-3, 0) + rec.get(6, 0)
        assert (name, t) not in out
        out[(name, t)] = (Fraction(v), unit)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([DEV, DEV2]), st.lists(reading_st, min_size=1, max_size=25)),
        min_size=1,
        max_size=2,
        unique_by=lambda g: g[0],
    )
)
def test_an_independent_senml_reader_gets_every_reading_exactly(groups):
    stored = []
    want = {}
    for dev, rs in groups:
        kept = {}
        for seq, t, values in rs:
            if t not in kept or seq >= kept[t][0]:
                kept[t] = (seq, t, values)
        stored.append((dev, [(s, t, {q: raw * vocab.BY_NAME[q][4] / vocab.BY_NAME[q][5] for q, raw in v.items()})
                             for s, t, v in kept.values()]))  # fmt: skip
        for _, t, values in kept.values():
            for q, raw in values.items():
                num, den = vocab.BY_NAME[q][4], vocab.BY_NAME[q][5]
                pm = vocab.unit(q) == "ug/m3"
                want[("urn:dev:mac:%s:%s" % (dev, q), t)] = (
                    Fraction(raw * num, den) * (Fraction(1, 10**9) if pm else 1),
                    "kg/m3" if pm else vocab.unit(q),
                )
    assert independent_values(senml.encode_pack(stored)) == want


def test_use_case_quantities_travel_with_their_rfc_8428_units():
    # a mobile van (position of its fix), a river gauge and a container with a light sensor
    r = [(7, 1763800000, {"pm2_5": 14.2, "latitude": 43.61092, "longitude": -1.55421, "distance": 2.412,
                          "water_level": -0.588, "fill_level": 72.5, "illuminance": 18.4})]  # fmt: skip
    got = {n.rsplit(":", 1)[1]: (v, u) for n, _, v, u in senml.resolve(senml.encode_pack([(DEV, r)]))}
    assert got["latitude"] == (Decimal("43.61092"), "lat") and got["longitude"] == (Decimal("-1.55421"), "lon")
    assert got["water_level"] == (Decimal("-0.588"), "m") and got["fill_level"] == (72.5, "%")
    assert got["illuminance"] == (Decimal("18.4"), "lx") and got["distance"] == (Decimal("2.412"), "m")
    # the platform side reads them back in the vocabulary's units
    back = {q: v for _, q, _, v in unpack("up", senml.encode_pack([(DEV, r)]))}
    assert back["latitude"] == 43.61092 and back["water_level"] == -0.588 and back["illuminance"] == 18.4
