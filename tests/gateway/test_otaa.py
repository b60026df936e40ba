"""OTAA join round trip: the firmware's LoRa-E5 modem emulator (simulator/modem/e5.py) joins the
running agent through a scripted packet forwarder, then sends readings with the derived session."""

import base64
import os

import pytest

from edge import lora, payload
from edge.clock import VirtualClock
from gateway import lorawan
from gateway.registry import Registry
from simulator.modem.e5 import LoRaE5Emulator
from tests.gateway.harness import AgentThread, make_config, stored
from tests.gateway.pf import Forwarder, rxpk

DEV_EUI = "2cf7f12032304b4f"
JOIN_EUI = "8000000000000006"
APP_KEY = bytes.fromhex("8b4a1f2e3d4c5b6a79880796a5b4c3d2")


class Air:
    """Carries the modem's frames to the forwarder as rxpk (tmst = end of the frame, in µs)."""

    def __init__(self, fwd):
        self.fwd = fwd
        self.sent = []

    def __call__(self, modem, phy, freq, dr, start_ms, airtime_ms):
        sf, bw, _ = lora.eu868_dr(dr)
        tmst = (start_ms + airtime_ms) * 1000
        self.sent.append((phy, tmst, freq / 1e6))
        self.fwd.push([rxpk(phy, tmst=tmst, freq=freq / 1e6, datr="SF%dBW%d" % (sf, bw // 1000))])


def at(modem, clock, line, until=None, ms=100, limit=20000):
    modem.write((line + "\r\n").encode())
    out = ""
    for _ in range(limit // ms):
        out += (modem.read() or b"").decode()
        if until is None or until in out:
            return out
        clock.advance(ms)
    raise AssertionError("no %r after %s: %s" % (until, line, out))


def otaa_agent(tmp_path, **overrides):
    """A running agent whose registry holds the OTAA device, not joined yet; and its config."""
    cfg = make_config(tmp_path, **overrides)
    reg = Registry.open(cfg.data_dir)
    reg.add_otaa(DEV_EUI, JOIN_EUI, APP_KEY)
    reg.close()
    return cfg, AgentThread(cfg)


def otaa_modem(clock, air, *settings):
    """The LoRa-E5 emulator with the OTAA device's identity and key, then these AT commands."""
    modem = LoRaE5Emulator(clock, radio=air, duty_cycle=False)
    for cmd in ('AT+ID=DevEui,"%s"' % DEV_EUI, 'AT+ID=AppEui,"%s"' % JOIN_EUI,
                'AT+KEY=APPKEY,"%s"' % APP_KEY.hex(), "AT+MODE=LWOTAA") + settings:  # fmt: skip
        at(modem, clock, cmd)
    return modem


@pytest.fixture
def joined_env(tmp_path):
    cfg, agent = otaa_agent(tmp_path)
    fwd = Forwarder(agent.address)
    fwd.pull()
    clock = VirtualClock()
    air = Air(fwd)
    modem = otaa_modem(clock, air, "AT+DR=DR5")
    yield cfg, agent, fwd, clock, air, modem
    fwd.close()
    agent.stop()


def deliver_downlink(fwd, modem, expected_tmst):
    _, txpk = fwd.pull_resp()
    assert txpk["tmst"] == expected_tmst
    modem.deliver(base64.b64decode(txpk["data"]))
    return txpk


def test_modem_emulator_joins_and_its_readings_are_stored(joined_env):
    cfg, agent, fwd, clock, air, modem = joined_env
    modem.write(b"AT+JOIN\r\n")
    modem.read()
    assert agent.wait("joins_accepted", 1) == 1
    join_phy, join_tmst, join_freq = air.sent[-1]
    txpk = deliver_downlink(fwd, modem, (join_tmst + 5_000_000) & 0xFFFFFFFF)  # JOIN_ACCEPT_DELAY1, RX1
    assert txpk["freq"] == join_freq and txpk["datr"] == "SF7BW125"
    out = at(modem, clock, "AT", until="+JOIN: Done", limit=10000)
    assert "+JOIN: Network joined" in out
    session = agent.agent.registry.session(DEV_EUI)
    assert session is not None and modem.session.dev_addr == session.dev_addr
    assert (modem.session.nwkskey, modem.session.appskey) == (session.nwkskey, session.appskey)

    reading = {"seq": 1, "t": 1763800000, "pm2_5": 8.4, "pm10": 15.0, "humidity": 61.5}
    at(modem, clock, "AT+PORT=1")
    at(modem, clock, "AT+MSGHEX=%s" % payload.encode(reading).hex(), until="Start")
    assert agent.wait("received_uplinks", 1) == 1
    # the gateway acknowledges the stored reading in RX1 (edge.downlink ack on FPort 2)
    _, tmst, _ = air.sent[-1]
    deliver_downlink(fwd, modem, tmst + 1_000_000)
    out = at(modem, clock, "AT", until="+MSGHEX: Done", limit=5000)
    assert '+MSGHEX: PORT: 2; RX: "0101000000"' in out  # ack up to seq 1
    agent.stop()
    assert [(d, s, v) for d, s, _, v in stored(cfg)] == [(DEV_EUI, 1, {"pm2_5": 8.4, "pm10": 15.0, "humidity": 61.5})]


def test_join_replays_bad_mics_and_strangers_are_refused(joined_env):
    cfg, agent, fwd, clock, air, modem = joined_env
    req = lorawan.build_join_request(APP_KEY, bytes.fromhex(JOIN_EUI), bytes.fromhex(DEV_EUI), 77)
    fwd.push([rxpk(req, tmst=10_000_000)])
    assert agent.wait("joins_accepted", 1) == 1
    fwd.pull_resp()
    first = agent.agent.registry.session(DEV_EUI)
    # the same DevNonce again (after the de-duplication window): a replay, no second join-accept
    fwd.push([rxpk(lorawan.build_join_request(APP_KEY, bytes.fromhex(JOIN_EUI), bytes.fromhex(DEV_EUI), 77),
                   tmst=20_000_000, rssi=-61)])  # fmt: skip
    import time

    time.sleep(0.3)
    fwd.push([rxpk(req, tmst=30_000_000)])
    assert agent.wait("join_replays", 1) == 1
    assert agent.agent.registry.session(DEV_EUI) is first
    # a wrong AppKey, an unregistered DevEUI
    fwd.push([rxpk(lorawan.build_join_request(os.urandom(16), bytes.fromhex(JOIN_EUI), bytes.fromhex(DEV_EUI), 78))])
    fwd.push([rxpk(lorawan.build_join_request(APP_KEY, bytes.fromhex(JOIN_EUI), bytes(8), 79))])
    assert agent.wait("bad_mic", 1) == 1 and agent.wait("unknown_device", 1) == 1
    assert fwd.nothing(0.3)
    # DevNonce 78 was never accepted (bad MIC), so the real device may still use it
    fwd.push([rxpk(lorawan.build_join_request(APP_KEY, bytes.fromhex(JOIN_EUI), bytes.fromhex(DEV_EUI), 78))])
    assert agent.wait("joins_accepted", 2) == 2
    _, txpk = fwd.pull_resp()
    ja = lorawan.decrypt_join_accept(APP_KEY, base64.b64decode(txpk["data"]))
    assert ja.join_nonce == 2 and ja.rx_delay == 1 and ja.dl_settings == 0  # RX2 DR0 (SF12)


def test_a_join_accept_goes_on_rx2_when_rx1_sub_band_has_no_budget(tmp_path):
    # a 60 s duty window: 1 % of it (0.6 s) on 868.1-868.5 MHz, 10 % (6 s) on 869.525 MHz
    _, agent = otaa_agent(tmp_path, lorawan={"duty_window_s": 60})
    fwd = Forwarder(agent.address)
    try:
        fwd.pull()
        clock = VirtualClock()
        air = Air(fwd)
        modem = otaa_modem(clock, air, "AT+DR=DR0")
        at(modem, clock, "AT+JOIN", until="Start")
        assert agent.wait("joins_accepted", 1) == 1
        _, join_tmst, _ = air.sent[-1]
        # RX1 would be a 1.8 s SF12 frame on the 1 % sub-band: over its budget, so RX2, JOIN_ACCEPT_DELAY2
        txpk = deliver_downlink(fwd, modem, (join_tmst + 6_000_000) & 0xFFFFFFFF)
        assert txpk["freq"] == 869.525 and txpk["datr"] == "SF12BW125"
        assert "+JOIN: Network joined" in at(modem, clock, "AT", until="+JOIN: Done", limit=10000)
        assert agent.metrics.get("downlinks_rx2") == 1
    finally:
        fwd.close()
        agent.stop()
