"""Structured fuzzing of the running agent (tests/gateway/fuzzgen.py): a few thousand mutated
datagrams in seconds; bench/fuzz_agent.py runs 100,000 and more. The agent lives, counts no
internal error, and every datagram and every rxpk lands in exactly one counter."""

from gateway.ingest import OUTCOMES
from tests.gateway.fuzzgen import Generator, drive
from tests.gateway.harness import AgentThread, add_abp, make_config, uplink
from tests.gateway.pf import Forwarder, rxpk

ADDR = "26011bda"
EUI = "aa555a0000000101"
SEED = 18


def check(a, sent):
    """The invariants the bench checks too; returns the counters they read."""
    m = a.metrics
    got = {k: m.get(k) for k in ("datagrams_received", "push_data", "malformed_datagrams", "internal_errors",
                                 "bad_rxpk", "rxpk_received", "accepted_uplinks", "received_uplinks")}  # fmt: skip
    assert got["internal_errors"] == 0
    assert got["datagrams_received"] == sent["datagrams"]
    assert got["push_data"] == sent["structured"] and got["malformed_datagrams"] == sent["envelope"]
    assert got["bad_rxpk"] + got["rxpk_received"] == sent["rxpk"]  # each rxpk refused or taken, once
    assert got["rxpk_received"] == sum(m.get(k) for k in OUTCOMES)  # each taken one in one outcome
    assert got["received_uplinks"] == got["accepted_uplinks"]
    return got


def test_thousands_of_structured_mutations_never_stop_the_agent(tmp_path):
    cfg = make_config(tmp_path)
    add_abp(cfg, "0004a30b001c0530", ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address, EUI)
    try:
        gen = Generator(SEED, ADDR, EUI)
        sent = drive(a, f, gen, 2000)  # about 8,000 rxpk
        got = check(a, sent)
        assert got["bad_rxpk"] > 500 and got["accepted_uplinks"] > 500  # both sides of the checks were reached
        before = got["received_uplinks"]
        f.push([rxpk(uplink(ADDR, gen.fcnt + 1, {"seq": 10**6, "t": 1763800000, "pm10": 3.0}))])
        assert a.wait("received_uplinks", before + 1) == before + 1  # still serving
        assert a._t.is_alive()
    finally:
        f.close()
        a.stop()
