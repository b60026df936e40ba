"""Hostile or unlucky input at the agent's edge: no datagram may stop the agent or block its storage.

Each test sends what a probe of the agent found to stop it (or to grow it without bound) to the real
agent over a loopback socket, and checks it is refused alone, counted, and that the agent goes on.
"""

import base64
import json
import logging
import os
import threading
import time

import pytest

from gateway import ratelog
from gateway.agent import BUFFER_FILE, Agent
from gateway.committer import Committer, Job
from gateway.ingest import OUTCOMES
from gateway.metrics import METRICS_FILE, Metrics
from gateway.metrics import read as read_metrics
from gateway.ratelog import RateLimitedLog
from gateway.registry import Registry
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading, Uplink
from gateway.udp import server as udp_server
from gateway.udp.push_data import build_push_data
from tests.gateway.harness import AgentThread, add_abp, make_config, stored, uplink
from tests.gateway.pf import Forwarder, rxpk

ADDR = "26011bda"
DEV = "0004a30b001c0530"
EUI = "aa555a0000000101"
LINK_CHECK_REQ = b"\x02"


def reading(seq):
    return {"seq": seq, "t": int(time.time()) - 60, "pm2_5": 12.5, "laeq": 51.0}


@pytest.fixture
def env(tmp_path):
    cfg = make_config(tmp_path, storage={"metrics_interval_s": 0.2})
    add_abp(cfg, DEV, ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address, EUI)
    yield cfg, a, f
    f.close()
    a.stop()


def alive_and_serving(a, f, fcnt):
    """The agent thread runs, counted no bug, and a fresh good frame still goes all the way."""
    before = a.metrics.get("received_uplinks")
    f.drain(0.05)  # PUSH_ACKs of what the test sent raw
    f.push([rxpk(uplink(ADDR, fcnt, reading(fcnt + 1)))])
    assert a.wait("received_uplinks", before + 1) == before + 1
    assert a._t.is_alive()
    assert a.metrics.get("internal_errors") == 0
    assert a.metrics.get("rxpk_received") == sum(a.metrics.get(k) for k in OUTCOMES)


@pytest.mark.parametrize("lsnr", [float("nan"), float("inf"), float("-inf"), 1e39])
def test_a_non_finite_snr_with_link_check_req_is_a_bad_field_not_a_crash(env, lsnr):
    cfg, a, f = env
    phy = uplink(ADDR, 0, reading(1), fopts=LINK_CHECK_REQ)
    f.push([dict(rxpk(phy), lsnr=lsnr)])  # json.dumps writes NaN / Infinity, as Python's json reads them
    assert a.wait("bad_rxpk.bad_field", 1) == 1
    time.sleep(0.3)  # past the commit deadline: the MAC answer would have been built by now
    alive_and_serving(a, f, 1)


@pytest.mark.parametrize(
    "field,value",
    [("rssi", 1e39), ("rssi", float("nan")), ("rssi", -1e6), ("lsnr", 99.0), ("freq", float("inf")),
     ("tmst", 2**32), ("tmst", 1.5), ("stat", float("nan")), ("stat", float("inf")), ("stat", 7), ("rfch", 10**30)],
)  # fmt: skip
def test_numbers_out_of_physical_range_make_only_their_rxpk_bad(env, field, value):
    cfg, a, f = env
    bad = dict(rxpk(uplink(ADDR, 0, reading(1))), **{field: value})
    good = rxpk(uplink(ADDR, 1, reading(2)))
    f.push([bad, good])  # the good rxpk after it in the same datagram still goes through
    assert a.wait("received_uplinks", 1) == 1
    assert a.metrics.get("bad_rxpk.bad_field") == 1
    assert a.metrics.get("internal_errors") == 0
    alive_and_serving(a, f, 2)


def nested(depth):
    return "[" * depth + "]" * depth


def test_a_deeply_nested_stat_is_refused_before_parsing_and_metrics_still_save(env):
    cfg, a, f = env
    body = ('{"rxpk":[],"stat":{"x":%s}}' % nested(950)).encode()
    f.send(b"\x02\x01\x02\x00" + bytes.fromhex(EUI) + body)
    assert a.wait("malformed.bad_json", 1) == 1
    saved = os.path.getmtime(cfg.data_dir / METRICS_FILE) if (cfg.data_dir / METRICS_FILE).exists() else 0
    time.sleep(1.3)  # one housekeeping round: the concentrator table is saved with the metrics
    assert os.path.getmtime(cfg.data_dir / METRICS_FILE) > saved
    alive_and_serving(a, f, 0)


def test_nesting_is_counted_outside_strings_only(env):
    cfg, a, f = env
    phy = uplink(ADDR, 0, reading(1))
    f.push([dict(rxpk(phy), codr="4/5" + "[" * 100)])  # brackets inside a string are no nesting
    assert a.wait("received_uplinks", 1) == 1
    f.send(b"\x02\x01\x02\x05" + bytes.fromhex(EUI) + ('{"txpk_ack":%s}' % nested(20)).encode())
    assert a.wait("malformed.bad_json", 1) == 1


def test_stat_is_kept_as_a_small_summary_and_the_table_is_capped(env, monkeypatch):
    cfg, a, f = env
    monkeypatch.setattr(udp_server, "MAX_CONCENTRATORS", 20)
    big = {"rxnb": 5, "rxok": 4, "lati": 52.1, "temp": float("nan"), "time": "2026-12-04 05:00:00 GMT"}
    big.update(("k%04d" % i, "x" * 40) for i in range(1150))  # ~58 KB of junk beside the real fields
    for i in range(30):
        eui = "%016x" % (0xA000 + i)
        data = build_push_data(2, b"\x00\x01", eui, {"rxpk": [], "stat": big})
        assert len(data) > 55_000
        f.send(data)
    assert a.wait("push_data", 30) == 30
    table = a.agent.server.concentrators
    assert len(table) == 20 and a.metrics.get("concentrators_not_kept") == 10
    summary = {"rxnb": 5, "rxok": 4, "lati": 52.1, "time": "2026-12-04 05:00:00 GMT"}
    assert all(c.stat == summary for c in table.values())
    time.sleep(1.3)
    assert (cfg.data_dir / METRICS_FILE).stat().st_size < 20_000
    # entries expire: an hour of silence later the table is empty again and new concentrators fit
    assert a.agent.server.expire(time.time() + udp_server.CONCENTRATOR_TTL_S + 1) == 20
    alive_and_serving(a, f, 0)


def test_an_allow_list_refuses_other_gateways(tmp_path):
    cfg = make_config(tmp_path, udp={"gateways": [EUI]})
    add_abp(cfg, DEV, ADDR)
    a = AgentThread(cfg)
    other = Forwarder(a.address, "0102030405060708")
    f = Forwarder(a.address, EUI)
    try:
        other.send(build_push_data(2, b"\x00\x01", other.eui, {"rxpk": [rxpk(uplink(ADDR, 0, reading(1)))]}))
        assert a.wait("malformed.unknown_gateway", 1) == 1
        assert other.nothing(0.2)  # no PUSH_ACK for a stranger
        assert a.metrics.get("rxpk_received") == 0
        alive_and_serving(a, f, 1)
    finally:
        other.close()
        f.close()
        a.stop()


def utc(year):
    return "%04d-06-01T12:00:00.000000Z" % year


@pytest.mark.parametrize("when", [utc(9999), utc(2200), utc(1970), utc(1)])
def test_an_absurd_rxpk_time_falls_back_to_the_agent_clock_and_is_counted(env, when):
    cfg, a, f = env
    now = int(time.time())
    r = {"seq": 1, "t": now - 30, "pm2_5": 3.0}
    f.push([dict(rxpk(uplink(ADDR, 0, r)), time=when)])
    assert a.wait("received_uplinks", 1) == 1
    assert a.metrics.get("rxpk_time_ignored") == 1
    a.stop()
    [(dev, seq, t, _)] = stored(cfg)
    assert seq == 1 and abs(t - (now - 30)) <= 5  # dated by the agent's clock, not lost


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00", b"{not json", b"[1,2]", b'{"counters": 5}', b"NaN"])
def test_a_damaged_metrics_file_starts_the_agent_from_zero_counters(tmp_path, content, caplog):
    cfg = make_config(tmp_path)
    add_abp(cfg, DEV, ADDR)
    (cfg.data_dir / METRICS_FILE).write_bytes(content)
    agent = Agent(cfg)
    try:
        assert agent.metrics.get("received_uplinks") == 0
    finally:
        agent._shutdown()
    assert json.loads((cfg.data_dir / METRICS_FILE).read_text())["counters"]["received_uplinks"] == 0


def test_metrics_never_write_nan_and_read_it_as_null(tmp_path):
    m = Metrics(tmp_path / METRICS_FILE)
    m.set("x", {"snr": float("nan"), "rssi": [float("inf"), 1.5]})
    assert m.save(force=True)
    text = (tmp_path / METRICS_FILE).read_text()
    assert "NaN" not in text and "Infinity" not in text
    (tmp_path / METRICS_FILE).write_text('{"counters": {"a": 1}, "gauges": {"g": NaN}}')
    assert read_metrics(tmp_path / METRICS_FILE)["gauges"] == {"g": None}


def test_an_exception_in_a_mac_answer_costs_that_answer_not_the_agent(env, mocker):
    cfg, a, f = env
    # no input reaches this any more (the rxpk checks stop NaN first): the fault is injected
    mocker.patch("gateway.lorawan.mac.answers", side_effect=ValueError("cannot convert float NaN to integer"))
    f.push([rxpk(uplink(ADDR, 0, reading(1), fopts=LINK_CHECK_REQ))])
    assert a.wait("internal_errors", 1) == 1
    assert a.wait("received_uplinks", 1) == 1  # counted after its commit
    mocker.stopall()
    a.metrics.put("internal_errors", 0)
    alive_and_serving(a, f, 1)


def test_a_failing_loop_step_is_counted_and_the_loop_goes_on(env, mocker):
    cfg, a, f = env
    mocker.patch.object(a.agent.server, "status", side_effect=RecursionError("maximum recursion depth exceeded"))
    assert a.wait("internal_errors", 2, timeout=3) >= 2  # housekeeping runs each second and fails each time
    mocker.stopall()
    a.metrics.put("internal_errors", 0)
    alive_and_serving(a, f, 0)


def test_tx_ack_from_another_address_is_refused(env):
    cfg, a, f = env
    assert f.pull()[3] == 4
    a.wait("pull_data", 1)
    stranger = Forwarder(a.address, EUI)
    try:
        stranger.tx_ack(b"\x12\x34", "TOO_LATE")
        assert a.wait("malformed.unknown_gateway", 1) == 1
        f.tx_ack(b"\x12\x34", "TOO_LATE")
        assert a.wait("tx_ack", 1) == 1
    finally:
        stranger.close()


def make_uplink(fcnt, rssi=-60.0):
    return Uplink(DEV, ADDR, fcnt, 1, b"\x40" + bytes(12), time.time(), EUI, rssi, 7.5, 868_100_000, "SF7BW125")


def test_an_unstorable_record_is_refused_alone_and_the_rest_committed(tmp_path):
    """rssi 1e39 overflows the uplink's float32 (OverflowError, not BadRecord); a bug in building
    a record raises anything at all. Either is refused alone; the batch and later ones are stored."""
    cfg = make_config(tmp_path)
    add_abp(cfg, DEV, ADDR)
    registry = Registry.open(cfg.data_dir)
    buffer = ReadingBuffer(cfg.data_dir / BUFFER_FILE)
    woke = threading.Event()
    committer = Committer(registry, buffer, woke.set)

    def broken():
        raise TypeError("a bug while building the record")

    def item(fcnt, make=None):
        return (make or (lambda: make_uplink(fcnt)), [Reading(DEV, fcnt, int(time.time()), {"pm10": 1.0})], None)

    try:
        committer.submit(
            Job([0, 1, 2, 3], [], [item(0), item(1, lambda: make_uplink(1, 1e39)), item(2, broken), item(3)])
        )
        committer.submit(Job([4], [], [item(4)]))
        jobs = []
        while len(jobs) < 2:
            assert woke.wait(5)
            woke.clear()
            jobs += committer.results()
        first, second = jobs
        assert first.error is None and second.error is None
        assert first.kept == [0, 3] and [i for i, _ in first.refused] == [1, 2]
        assert "OverflowError" in first.refused[0][1] or "float" in first.refused[0][1]
        assert second.kept == [0]
    finally:
        committer.close()
        buffer.close()
        registry.close()
    assert sorted(seq for _, seq, _, _ in stored(cfg)) == [0, 3, 4]


def test_tx_ack_error_strings_never_become_log_kinds_or_counters(env, caplog):
    cfg, a, f = env
    assert f.pull()[3] == 4
    for i in range(300):  # distinct error strings, one with a forged log line
        f.tx_ack(b"\x00\x01", "E%d\nINFO gateway.agent: all good" % i)
    assert a.wait("tx_ack", 300) == 300
    ours = [k for k in a.metrics.snapshot()["counters"] if k.startswith("tx_ack")]
    assert ours == ["tx_ack"]  # the OTHER error of an unknown token is not even counted per kind
    assert not any("all good" in r.getMessage() and "\n" in r.getMessage() for r in caplog.records)


def test_the_rate_limiter_tracks_a_bounded_number_of_kinds_and_escapes_control_characters(caplog):
    log = logging.getLogger("test.ratelog")
    rl = RateLimitedLog(log)
    for i in range(3000):
        rl.warn("kind%d" % i, "line\nforged \x1b[31m \\x0a")
    assert len(rl._last) <= ratelog.MAX_KINDS + 1
    messages = [r.getMessage() for r in caplog.records if r.name == "test.ratelog"]
    assert all("\n" not in m and "\x1b" not in m for m in messages)
    assert "line\\x0aforged \\x1b[31m \\\\x0a" in messages[0]  # a literal backslash cannot fake an escape
    assert len(ratelog.clean("x" * 10_000)) <= ratelog.MAX_MESSAGE + 3


def test_a_datagram_that_hits_a_bug_is_counted_and_kept_for_diagnosis(env, mocker):
    cfg, a, f = env
    # a bug in the ingest path cannot be provoked from outside any more: it is injected
    mocker.patch.object(a.agent.server, "on_rx", side_effect=KeyError("a bug"))
    for i in range(udp_server.INTERNAL_SAMPLES + 3):
        f.push([rxpk(uplink(ADDR, i, reading(i + 1)))])
    assert a.wait("internal_errors", udp_server.INTERNAL_SAMPLES + 3) == udp_server.INTERNAL_SAMPLES + 3
    samples = a.metrics.snapshot()["gauges"]["internal_error_samples"]
    assert len(samples) == udp_server.INTERNAL_SAMPLES  # bounded
    last = base64.b64decode(samples[-1]["datagram"])
    assert last[3] == 0 and b'"rxpk"' in last and "KeyError" in samples[-1]["error"]
