"""The ingest's reading of packs: what docs/platform.md promises, and typed refusals of the rest."""

import math
import zlib
from decimal import Decimal

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.senml import PackError, parse_topic, resolve, unpack
from edge import vocab
from gateway.forward import senml as gw_senml

EUI = "70b3d57ed0000001"
T0 = 1763800000


def test_gateway_packs_resolve_to_the_values_given_at_their_resolution():
    readings = [
        (1, T0, {"pm2_5": 12.3, "temperature": 21.37, "humidity": 48.5, "pressure": 101320.0}),
        (2, T0 + 60, {"pm2_5": 12.4, "temperature": -3.01, "count_in": 7.0}),
    ] + [(3 + i, T0 + 120 + 60 * i, {"laeq": 50.1 + i / 10}) for i in range(8)]
    got = sorted(resolve(gw_senml.reference_pack([(EUI, readings)])))
    want = sorted((EUI, q, t, v) for _, t, vals in readings for q, v in vals.items())
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[3] == pytest.approx(w[3], abs=1e-9)
        assert repr(g[3]) == repr(round(w[3], 2))  # exactly the decimal, not 12.296875


def test_decimal_fractions_and_both_name_forms():
    pack = [
        {-2: "urn:dev:mac:%s:" % EUI, -3: T0, 0: "pm10", 1: "ug/m3", 2: Decimal("261.8")},
        {0: "temperature", 1: "Cel", 2: Decimal("-0.05"), 6: 60},
        {-2: "urn:dev:eui:%s:humidity" % EUI, -4: "%RH", -3: T0, 2: 48},
    ]
    assert resolve(cbor2.dumps(pack)) == [
        (EUI, "pm10", T0, 261.8),
        (EUI, "temperature", T0 + 60, -0.05),
        (EUI, "humidity", T0, 48.0),
    ]


def test_pm_in_kg_per_m3_is_stored_in_ug_per_m3_exactly():
    pack = [
        {-2: "urn:dev:mac:%s:pm2_5" % EUI, -4: "kg/m3", -3: T0, 2: Decimal("1.23E-8")},
        {6: 60, 2: Decimal("5E-10")},
        {6: 120, 2: 0},
        {-2: "urn:dev:mac:%s:" % EUI, 0: "pm10", 1: "kg/m3", 2: Decimal("2.618E-7")},
    ]
    assert resolve(cbor2.dumps(pack)) == [
        (EUI, "pm2_5", T0, 12.3),
        (EUI, "pm2_5", T0 + 60, 0.5),
        (EUI, "pm2_5", T0 + 120, 0.0),
        (EUI, "pm10", T0, 261.8),
    ]


def test_deflated_pack_and_topics():
    pack = gw_senml.reference_pack([(EUI, [(1, T0, {"pm2_5": 1.5})])])
    assert unpack("up/deflate", zlib.compress(pack)) == unpack("up", pack) == [(EUI, "pm2_5", T0, 1.5)]
    assert parse_topic("city/edge", "city/edge/lamp-7/up/deflate") == ("lamp-7", "up/deflate")


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\x00garbage", "not_cbor"),
        (cbor2.dumps({"a": 1}), "not_senml"),
        (cbor2.dumps([]), "not_senml"),
        (cbor2.dumps([{-1: 27, -2: "urn:dev:eui:%s:pm2_5" % EUI, -3: T0, 2: 1}]), "bad_bver"),
        (cbor2.dumps([{-2: "urn:dev:imei:123:pm2_5", -3: T0, 2: 1}]), "bad_name"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:" % EUI.upper(), 0: "pm2_5", -3: T0, 2: 1}]), "bad_name"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:ozone" % EUI, -3: T0, 2: 1}]), "unknown_quantity"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "g/m3", -3: T0, 2: 1}]), "bad_unit"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:laeq" % EUI, -4: "dBA", -3: T0, 2: 1}]), "bad_unit"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 2: "12"}]), "bad_value"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 2: float("nan")}]), "bad_value"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 3: "x"}]), "bad_value"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: True, 2: 1}]), "bad_time"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", 2: 1}]), "bad_time"),  # relative time
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: 10**30, 2: 1}]), "bad_time"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 6: Decimal("sNaN"), 2: 1}]), "bad_time"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 2: 10**400}]), "bad_value"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "kg/m3", -3: T0, 2: Decimal("sNaN")}]), "bad_value"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "kg/m3", -3: T0, 2: Decimal("1E+999999")}]), "bad_value"),
        (cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 2: True}]), "bad_value"),
    ],
)
def test_bad_packs_are_refused_with_a_reason(payload, reason):
    with pytest.raises(PackError) as e:
        resolve(payload)
    assert e.value.reason == reason


def test_bad_deflate_and_bomb():
    with pytest.raises(PackError) as e:
        unpack("up/deflate", b"not zlib")
    assert e.value.reason == "bad_deflate"
    with pytest.raises(PackError) as e:
        unpack("up/deflate", zlib.compress(b"\0" * (17 << 20)))
    assert e.value.reason == "bad_deflate"
    with pytest.raises(PackError) as e:
        unpack("up/other", b"")
    assert e.value.reason == "bad_topic"


_leaf = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True), st.text(max_size=40),
    st.binary(max_size=8), st.booleans(), st.none(), st.decimals(allow_nan=True),
    st.sampled_from(["urn:dev:mac:%s:" % EUI, "pm2_5", "kg/m3", "ug/m3", "Cel", T0]),
)  # fmt: skip
_record = st.dictionaries(st.sampled_from([-4, -3, -2, -1, 0, 1, 2, 3, 6, 99]), _leaf, max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_record, _leaf), max_size=6))
def test_any_cbor_gives_values_or_a_pack_error(pack):
    try:
        out = resolve(cbor2.dumps(pack))
    except PackError:
        return
    for eui, q, t, v in out:
        assert len(eui) == 16 and q in vocab.BY_NAME and t >= 2**28 and math.isfinite(v)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_values_or_a_pack_error(payload):
    for leaf in ("up", "up/deflate"):
        try:
            unpack(leaf, payload)
        except PackError:
            pass
