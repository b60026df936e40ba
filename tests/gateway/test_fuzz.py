"""Hypothesis-generated and mutated datagrams and PHYPayloads against the running agent, over UDP.

No exception escapes (the agent keeps answering, internal_errors stays 0) and the counters account
for every datagram and every rxpk.
"""

import base64
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ingest import OUTCOMES
from tests.gateway.harness import AgentThread, add_abp, make_config, uplink
from tests.gateway.pf import Forwarder, rxpk

ADDR = "26011bda"
EUI = "aa555a0000000101"
GOOD = [uplink(ADDR, i, {"seq": i + 1, "t": 1763800000 + i, "pm2_5": 1.5, "laeq": 40.0}) for i in range(4)]

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
                        st.text(max_size=12))  # fmt: skip
json_value = st.recursive(
    json_scalar, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=12
)
RXPK_KEYS = ["tmst", "freq", "stat", "modu", "datr", "codr", "rssi", "lsnr", "size", "data", "rfch", "chan"]


@st.composite
def fuzzed_rxpk(draw):
    base = rxpk(draw(st.sampled_from(GOOD)) if draw(st.booleans()) else draw(st.binary(max_size=64)))
    for key in draw(st.lists(st.sampled_from(RXPK_KEYS), max_size=3)):
        if draw(st.booleans()):
            base.pop(key, None)
        else:
            base[key] = draw(json_value)
    return base


@st.composite
def mutated_phy_rxpk(draw):
    phy = bytearray(draw(st.sampled_from(GOOD)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(phy) - 1))
        phy[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        phy = phy[: draw(st.integers(0, len(phy)))]
    return rxpk(bytes(phy))


def push(version, token, body):
    return bytes((version,)) + token + b"\x00" + bytes.fromhex(EUI) + body


datagram = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda v, t, i, rest: bytes((v,)) + t + bytes((i,)) + rest,
        st.integers(0, 3),
        st.binary(min_size=2, max_size=2),
        st.integers(0, 6),
        st.binary(max_size=40),
    ),  # fmt: skip
    st.builds(
        lambda t, pk: push(2, t, json.dumps({"rxpk": pk}).encode()),
        st.binary(min_size=2, max_size=2),
        st.lists(st.one_of(fuzzed_rxpk(), mutated_phy_rxpk()), max_size=4),
    ),  # fmt: skip
    st.builds(lambda t, v: push(2, t, json.dumps(v).encode()), st.binary(min_size=2, max_size=2), json_value),
    st.builds(
        lambda body, cut: push(1, b"\x00\x01", body)[:cut],
        st.sampled_from([json.dumps({"rxpk": [rxpk(g)]}).encode() for g in GOOD]),
        st.integers(0, 400),
    ),
    st.builds(
        lambda b, i, x: b[:i] + bytes((x,)) + b[i + 1 :],
        st.sampled_from([push(2, b"\x01\x02", json.dumps({"rxpk": [rxpk(g)]}).encode()) for g in GOOD]),
        st.integers(0, 200),
        st.integers(0, 255),
    ),  # fmt: skip
)


def test_fuzzed_datagrams_never_crash_and_are_all_accounted_for(tmp_path):
    cfg = make_config(tmp_path)
    add_abp(cfg, "0004a30b001c0530", ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address, EUI)
    sent = [0]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(datagram)
    def send_one(data):
        f.send(data)
        sent[0] += 1
        if sent[0] % 50 == 0:
            f.drain(0.0)

    try:
        send_one()
        m = a.metrics
        assert a.wait("datagrams_received", sent[0], timeout=20) == sent[0]
        a.wait("received_uplinks", m.get("accepted_uplinks"), timeout=5)
        parts = ("push_data", "pull_data", "tx_ack", "malformed_datagrams", "internal_errors")
        assert m.get("datagrams_received") == sum(m.get(k) for k in parts)
        assert m.get("internal_errors") == 0
        assert m.get("rxpk_received") == sum(m.get(k) for k in OUTCOMES)
        assert m.get("received_uplinks") == m.get("accepted_uplinks")
        # still serving: a fresh good frame goes all the way
        before = m.get("received_uplinks")
        f.drain(0.1)
        phy = uplink(ADDR, 100, {"seq": 10**6, "t": 1763800000, "pm10": 3.0})
        f.push([rxpk(phy)])
        assert a.wait("received_uplinks", before + 1) == before + 1
        assert base64 and time  # modules used by helpers above
    finally:
        f.close()
        a.stop()
