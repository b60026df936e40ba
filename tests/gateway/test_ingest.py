"""The running agent: datagrams in, readings committed, counters, dedup, replays, gaps, downlinks."""

import base64
import os
import stat
import time

import pytest

from edge import downlink, lora, payload
from gateway import lorawan
from gateway.agent import Agent
from gateway.ingest import OUTCOMES
from gateway.registry import RegistryError
from tests.gateway.harness import APP, NWK, AgentThread, H, add_abp, make_config, stored, stored_uplinks, uplink
from tests.gateway.pf import Forwarder, rxpk

DEV = "0004a30b001c0530"
ADDR = "26011bda"
T0 = 1763800000


def reading(seq, **values):
    return {"seq": seq, "t": T0 + 300 * seq, **(values or {"pm2_5": 12.3, "humidity": 48.5})}


@pytest.fixture
def env(tmp_path):
    # RX1 at 3 s (a device setting the config must match): a loaded CI machine still meets RX1
    cfg = make_config(tmp_path, lorawan={"rx1_delay_s": 3})
    add_abp(cfg, DEV, ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    yield cfg, a, f
    f.close()
    a.stop()


def accounted(metrics):
    return sum(metrics.get(k) for k in OUTCOMES)


def test_uplink_becomes_committed_readings(env):
    cfg, a, f = env
    readings = [reading(1), reading(2, temperature=21.37, laeq=55.4)]
    f.push([rxpk(uplink(ADDR, 0, readings), rssi=-71, lsnr=3.25)])
    assert a.wait("received_uplinks", 1) == 1
    assert a.metrics.get("stored_readings") == 2
    a.stop()
    got = stored(cfg)
    assert [(d, s, t) for d, s, t, _ in got] == [(DEV, 1, T0 + 300), (DEV, 2, T0 + 600)]
    assert got[1][3] == {"temperature": 21.37, "laeq": 55.4}
    (up,) = stored_uplinks(cfg)
    assert (up.dev_eui, up.dev_addr, up.fcnt, up.fport, up.rssi, up.snr, up.freq_hz, up.datr) == (
        DEV, ADDR, 0, 1, -71.0, 3.25, 868100000, "SF7BW125")  # fmt: skip
    assert up.phy == uplink(ADDR, 0, readings) and up.gateway_eui == f.eui


def test_copies_from_several_concentrators_are_merged_keeping_the_best(env):
    cfg, a, f = env
    phy = uplink(ADDR, 0, reading(1))
    g2 = Forwarder(a.address, "aa555a0000000202")
    g3 = Forwarder(a.address, "aa555a0000000303")
    f.push([rxpk(phy, rssi=-110, lsnr=-5)])
    g2.push([rxpk(phy, rssi=-60, lsnr=9)])
    g3.push([rxpk(phy, rssi=-90, lsnr=2)])
    assert a.wait("duplicates", 2) == 2
    assert a.wait("received_uplinks", 1) == 1
    a.stop()
    (up,) = stored_uplinks(cfg)
    assert up.gateway_eui == "aa555a0000000202" and up.rssi == -60
    assert len(stored(cfg)) == 1
    g2.close()
    g3.close()


def test_replays_bad_mics_and_unknown_devices_are_counted_never_stored(env, tmp_path):
    cfg, a, f = env
    f.push([rxpk(uplink(ADDR, 5, reading(1)))])
    a.wait("received_uplinks", 1)
    f.push([rxpk(uplink(ADDR, 3, reading(2)))])  # older counter
    f.push([rxpk(uplink(ADDR, 6, reading(3), nwk=os.urandom(16)))])  # wrong key
    f.push([rxpk(uplink("26011bdb", 0, reading(4)))])  # nobody
    f.push([rxpk(b"\x40\x01")])  # truncated
    f.push([rxpk(uplink(ADDR, 7, reading(5)), stat=-1)])  # CRC error
    assert a.wait("crc_failed", 1) == 1
    assert (a.metrics.get("replays"), a.metrics.get("bad_mic"), a.metrics.get("unknown_device")) == (1, 1, 1)
    assert a.metrics.get("bad_phy") == 1
    assert a.metrics.get("rxpk_received") == accounted(a.metrics) == 6
    a.stop()
    assert [s for _, s, _, _ in stored(cfg)] == [1]
    # restart: the counter survived, the same frame is still a replay
    a = AgentThread(cfg)
    f2 = Forwarder(a.address)
    f2.push([rxpk(uplink(ADDR, 5, reading(1)), tmst=99)])
    assert a.wait("replays", 2) == 2
    f2.push([rxpk(uplink(ADDR, 6, reading(6)))])
    assert a.wait("received_uplinks", 2) == 2
    f2.close()
    a.stop()


def test_frame_counter_crosses_16_bits(env):
    cfg, a, f = env
    for i, fcnt in enumerate((65534, 65535, 65536, 65537 + 10)):
        f.push([rxpk(uplink(ADDR, fcnt, reading(i + 1)))])
    assert a.wait("received_uplinks", 4) == 4
    assert a.metrics.get("bad_mic") == 0
    a.stop()
    assert [u.fcnt for u in stored_uplinks(cfg)] == [65534, 65535, 65536, 65547]


def _downlink(f, tmst_expected, freq=868.1, datr="SF7BW125", fcnt=0):
    token, txpk = f.pull_resp()
    assert txpk["tmst"] == tmst_expected and txpk["freq"] == freq and txpk["datr"] == datr
    assert txpk["ipol"] is True and txpk["imme"] is False
    phy = base64.b64decode(txpk["data"])
    frame = lorawan.parse_phy(phy)
    assert isinstance(frame, lorawan.DataFrame) and not frame.uplink
    assert frame.fcnt16 == fcnt and frame.mic_ok(NWK, fcnt)
    return token, frame


def test_gap_triggers_backfill_request_in_rx1(env):
    cfg, a, f = env
    assert f.pull()[3] == 4
    f.push([rxpk(uplink(ADDR, 0, reading(1)), tmst=1_000_000)])
    _, first = _downlink(f, 4_000_000)  # the first ack of stored readings
    assert downlink.decode(first.decrypt(NWK, APP, 0)) == [("ack", 1)]
    f.push([rxpk(uplink(ADDR, 1, [reading(5), reading(6)]), tmst=50_000_000)])
    _, frame = _downlink(f, 53_000_000, fcnt=1)
    assert frame.fport == 2
    cmds = downlink.decode(frame.decrypt(NWK, APP, 1))
    assert cmds == [("resend", 2, 3)]  # ack 1 was already sent and has not moved
    # the node resends 2..4 from its datalog: the gap closes, the next ack covers everything
    f.push([rxpk(uplink(ADDR, 2, [reading(2), reading(3), reading(4)]), tmst=90_000_000)])
    assert a.wait("received_uplinks", 3) == 3
    assert a.agent.backfill.gaps(DEV) == []
    a.stop()
    assert sorted(s for _, s, _, _ in stored(cfg)) == [1, 2, 3, 4, 5, 6]


def test_mac_commands_and_confirmed_uplinks_are_answered(env):
    cfg, a, f = env
    f.pull()
    f.push([rxpk(uplink(ADDR, 0, reading(1), confirmed=True, fopts=H("020d")), tmst=7_000_000, lsnr=5)])
    _, frame = _downlink(f, 10_000_000)
    assert frame.ack
    assert frame.fopts[:3] == H("020c01")  # LinkCheckAns: margin 5 - (-7.5) = 12 dB, 1 gateway
    assert frame.fopts[3] == 0x0D  # DeviceTimeAns (9 bytes)
    assert frame.fopts[9:] == H("06")  # then the network's own DevStatusReq: a device's first of the day


def test_a_confirmed_uplink_sent_again_is_acked_again_and_stored_once(env):
    cfg, a, f = env
    f.pull()
    phy = uplink(ADDR, 0, reading(1), confirmed=True)
    f.push([rxpk(phy, tmst=7_000_000)])
    _, first = _downlink(f, 10_000_000)
    assert first.ack
    # the node missed that ACK and retransmits the same frame (same FCnt) in a later window
    f.push([rxpk(phy, tmst=20_000_000)])
    _, again = _downlink(f, 23_000_000, fcnt=1)
    assert again.ack
    assert a.wait("retransmissions", 1) == 1 and a.metrics.get("replays") == 0
    assert a.wait("received_uplinks", 1) == 1
    a.stop()
    assert [r[1] for r in stored(cfg)] == [1]  # its reading once


def test_rx1_refused_by_the_forwarder_falls_back_to_rx2(env):
    cfg, a, f = env
    f.pull()
    f.push([rxpk(uplink(ADDR, 0, reading(1)), tmst=3_000_000)])
    token, _ = _downlink(f, 6_000_000)
    f.tx_ack(token, "TOO_LATE")
    token2, frame2 = _downlink(f, 7_000_000, freq=869.525, datr="SF12BW125")
    assert a.wait("tx_ack_errors", 1) == 1 and a.wait("downlinks_rx2", 1) == 1


def test_registry_readable_by_others_is_refused(tmp_path):
    cfg = make_config(tmp_path)
    add_abp(cfg, DEV, ADDR)
    reg = cfg.data_dir / "registry.sqlite"
    os.chmod(reg, 0o644)
    with pytest.raises(RegistryError, match="chmod 600"):
        Agent(cfg)
    os.chmod(reg, 0o600)
    os.chmod(cfg.data_dir, 0o755)
    with pytest.raises(RegistryError, match="chmod 700"):
        Agent(cfg)


def test_registry_and_keys_are_private(env):
    cfg, a, f = env
    mode = stat.S_IMODE((cfg.data_dir / "registry.sqlite").stat().st_mode)
    assert mode == 0o600
    assert "2b7e1516" not in repr(a.agent.registry.session(DEV))


def test_payload_errors_keep_the_frame_but_store_no_readings(env):
    cfg, a, f = env
    bad = lorawan.build_data_frame(nwkskey=NWK, appskey=APP, dev_addr=H(ADDR), fcnt32=0, uplink=True, fport=1,
                                   payload=b"\xff\x00")  # fmt: skip
    f.push([rxpk(bad)])
    assert a.wait("payload_errors", 1) == 1
    assert a.wait("received_uplinks", 1) == 1 and a.metrics.get("stored_readings") == 0
    assert payload  # the codec's error classes are what was counted


def test_uplinks_of_devices_added_while_running_are_accepted(env):
    cfg, a, f = env
    add_abp(cfg, "0004a30b001c0531", "26011bdc")
    # the registry is refreshed once a second
    for i in range(40):
        f.push([rxpk(uplink("26011bdc", i, reading(i + 1)))])
        if a.wait("received_uplinks", 1, timeout=0.1):
            break
    assert a.wait("received_uplinks", 1) >= 1


def relative_uplink(fcnt, readings, packed_at):
    """An uplink whose payload counts reading ages from packed_at, as the firmware sends them."""
    data = payload.encode(readings, {"seq": readings[0]["seq"], "t": packed_at})
    return lorawan.build_data_frame(
        nwkskey=NWK, appskey=APP, dev_addr=H(ADDR), fcnt32=fcnt, uplink=True, confirmed=False, fport=1, payload=data
    )


def utc(unix_s):
    import datetime

    return datetime.datetime.fromtimestamp(unix_s, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_readings_are_dated_by_the_concentrator_clock_less_the_time_on_air(env):
    cfg, a, f = env
    # hours from the agent's own clock (inside the server's TIME_WINDOW_S): only rxpk.time gives these times
    packed = int(time.time()) - 5 * 3600
    readings = [reading(1), reading(2)]
    for r in readings:
        r["t"] = packed - 600 + 300 * r["seq"]
    phy = relative_uplink(0, readings, packed)
    airtime_s = lora.time_on_air_us(len(phy), 9, 125000) / 1e6  # about 0.2 s at SF9
    end_of_reception = packed + 0.9 + airtime_s  # sent 0.9 s into its second: ends in the next one
    f.push([dict(rxpk(phy, datr="SF9BW125"), time=utc(end_of_reception))])
    assert a.wait("received_uplinks", 1) == 1
    a.stop()
    assert [(s, t) for _, s, t, _ in stored(cfg)] == [(1, packed - 300), (2, packed)]


def test_without_rxpk_time_or_with_a_bad_one_the_agent_clock_dates_readings(env):
    cfg, a, f = env
    packed = T0 - 86400 * 400
    phy1 = relative_uplink(0, [dict(reading(1), t=packed)], packed)
    phy2 = relative_uplink(1, [dict(reading(2), t=packed)], packed)
    f.push([dict(rxpk(phy1), time="not a time")])
    f.push([rxpk(phy2, tmst=2_000_000)])
    assert a.wait("received_uplinks", 2) == 2
    a.stop()
    times = [t for _, _, t, _ in stored(cfg)]
    assert all(abs(t - time.time()) < 120 for t in times), times


def test_time_source_gateway_ignores_the_concentrator_clock(tmp_path):
    cfg = make_config(tmp_path, ingest={"time_source": "gateway"})
    add_abp(cfg, DEV, ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    try:
        packed = T0 - 86400 * 400
        phy = relative_uplink(0, [dict(reading(1), t=packed)], packed)
        f.push([dict(rxpk(phy), time=utc(packed + 0.1))])
        assert a.wait("received_uplinks", 1) == 1
    finally:
        f.close()
        a.stop()
    (row,) = stored(cfg)
    assert abs(row[2] - time.time()) < 120


def test_an_unconfirmed_frame_repeated_with_its_counter_is_a_duplicate(env):
    cfg, a, f = env
    phy = uplink(ADDR, 4, reading(1))
    f.push([rxpk(phy, tmst=1_000_000)])
    assert a.wait("received_uplinks", 1) == 1
    time.sleep(0.3)  # past the 200 ms window that merges copies from several concentrators
    f.push([rxpk(phy, tmst=9_000_000)])  # NbTrans: the node sends the same frame again
    assert a.wait("duplicates", 1) == 1
    f.push([rxpk(uplink(ADDR, 3, reading(2)), tmst=12_000_000)])  # an older counter stays a replay
    assert a.wait("replays", 1) == 1 and a.metrics.get("duplicates") == 1
    assert a.metrics.get("rxpk_received") == accounted(a.metrics) == 3
    a.stop()
    assert [r[1] for r in stored(cfg)] == [1]  # its reading once


def test_mac_answers_too_long_for_fopts_go_on_fport_0(env):
    cfg, a, f = env
    f.pull()
    # two LinkCheckReq and two DeviceTimeReq: 3 + 3 + 6 + 6 answer bytes, and the DevStatusReq: 19 > 15
    f.push([rxpk(uplink(ADDR, 0, None, fopts=H("02020d0d")), tmst=7_000_000, lsnr=5)])
    _, frame = _downlink(f, 10_000_000)
    assert frame.fopts == b"" and frame.fport == 0
    plain = frame.decrypt(NWK, APP, 0)  # FPort 0: under the NwkSKey
    assert plain == frame.decrypt(NWK, os.urandom(16), 0)
    assert plain[:6] == H("020c01020c01") and plain[6] == plain[12] == 0x0D and plain[18:] == H("06")
    assert a.metrics.get("downlinks_mac_fport0") == 1


def test_the_dedup_window_holds_across_generations_and_ends_after_it(tmp_path):
    """Copies are merged for dedup_window_ms after the first, whenever the polls drop the older
    generation of remembered frames; a copy later than that is the frame sent again."""
    from gateway.udp.rxpk import parse_rxpk

    cfg = make_config(tmp_path)  # dedup_window_ms 200
    add_abp(cfg, DEV, ADDR)
    agent = Agent(cfg)
    ingest, m = agent.ingest, agent.metrics
    try:
        first = uplink(ADDR, 0, reading(1), confirmed=True)
        ingest.poll(100.0)
        ingest.on_rxpk("aa555a0000000101", parse_rxpk(rxpk(first, rssi=-100)), 100.19, time.time())
        for t in (100.2, 100.25, 100.3, 100.35):  # polls rotate the generations meanwhile
            ingest.poll(t)
        ingest.on_rxpk("aa555a0000000202", parse_rxpk(rxpk(first, rssi=-50)), 100.38, time.time())
        assert m.get("duplicates") == 1 and m.get("accepted_uplinks") == 1
        ingest.poll(100.4)
        ingest.on_rxpk("aa555a0000000303", parse_rxpk(rxpk(first, rssi=-40)), 100.4, time.time())
        assert m.get("duplicates") == 1  # past the window: a confirmed frame again, ACKed again
        assert m.get("retransmissions") == 1
        second = uplink(ADDR, 1, reading(2))
        ingest.on_rxpk("aa555a0000000101", parse_rxpk(rxpk(second)), 100.5, time.time())
        for t in (100.6, 100.7, 100.8, 100.9):
            ingest.poll(t)
        ingest.on_rxpk("aa555a0000000101", parse_rxpk(rxpk(second)), 100.95, time.time())
        assert m.get("duplicates") == 2  # the repetition of the last unconfirmed frame (NbTrans)
        assert m.get("accepted_uplinks") == 2
    finally:
        agent._shutdown()
