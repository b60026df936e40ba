"""ADR through the running agent: the LoRa-E5 emulator (ADR on) talks to the agent over a scripted
packet forwarder; the SNR each frame arrives with is set per test."""

import base64
import time

import pytest

from edge import lora, payload
from edge.clock import VirtualClock
from gateway.lorawan import maccmd
from tests.gateway.harness import AgentThread
from tests.gateway.pf import Forwarder, rxpk
from tests.gateway.test_otaa import DEV_EUI, at, otaa_agent, otaa_modem

T0 = 1763800000


class Air:
    """Frames to the forwarders (one per concentrator), each heard with the given SNRs."""

    def __init__(self, fwds, snrs):
        self.fwds = fwds
        self.snrs = snrs
        self.sent = []  # (dr, airtime ms, tmst)

    def __call__(self, modem, phy, freq, dr, start_ms, airtime_ms):
        sf, bw, _ = lora.eu868_dr(dr)
        tmst = (start_ms + airtime_ms) * 1000 & 0xFFFFFFFF  # the concentrator counter wraps (~71 min)
        self.sent.append((dr, airtime_ms, tmst))
        for fwd, snr in zip(self.fwds, self.snrs, strict=True):
            fwd.push([rxpk(phy, tmst=tmst, freq=freq / 1e6, datr="SF%dBW%d" % (sf, bw // 1000), lsnr=snr)])


@pytest.fixture
def chain(tmp_path):
    _, agent = otaa_agent(tmp_path)
    fwds = [Forwarder(agent.address, eui="aa555a000000010%d" % i) for i in (1, 2)]
    for f in fwds:
        f.pull()
    clock = VirtualClock()
    air = Air(fwds[:1], [10.0])
    modem = otaa_modem(clock, air, "AT+DR=DR0", "AT+ADR=ON")
    at(modem, clock, "AT+JOIN", until="Start")
    assert agent.wait("joins_accepted", 1) == 1
    _, txpk = fwds[0].pull_resp()
    modem.deliver(base64.b64decode(txpk["data"]))
    assert "+JOIN: Network joined" in at(modem, clock, "AT", until="+JOIN: Done", limit=10000)
    at(modem, clock, "AT+PORT=1")
    yield agent, fwds, clock, air, modem
    for f in fwds:
        f.close()
    agent.stop()


def send(agent, fwds, clock, air, modem, seq):
    """One uplink with a reading; the downlink the agent sends in RX1 (if any) goes to the modem."""
    before = agent.metrics.get("downlinks_sent")
    reading = {"seq": seq, "t": T0 + 300 * seq, "pm2_5": 8.0 + seq / 10}
    at(modem, clock, "AT+MSGHEX=%s" % payload.encode(reading).hex(), until="Start")
    assert agent.wait("received_uplinks", seq) == seq  # counted after its downlink was planned
    if agent.metrics.get("downlinks_sent") > before:
        _, txpk = fwds[0].pull_resp()
        modem.deliver(base64.b64decode(txpk["data"]))
    at(modem, clock, "AT", until="+MSGHEX: Done", limit=10000)
    clock.advance(300_000)


def test_cflist_and_a_strong_link_goes_from_sf12_to_sf7(chain):
    agent, fwds, clock, air, modem = chain
    assert modem.channels == list(maccmd.EU868_CHANNELS)  # the Join-Accept's CFList
    for seq in range(1, 21):
        send(agent, fwds, clock, air, modem, seq)
    drs = [dr for dr, _, _ in air.sent[1:]]  # after the join-request
    assert drs[0] == 0 and drs[-1] == 5, drs
    first, last = air.sent[1][1], air.sent[-1][1]
    assert last * 15 < first  # the same 6-byte reading: SF12 ~1.15 s, SF7 ~0.06 s on air
    assert agent.metrics.get("adr_accepted") >= 1
    # 10 dB SNR at SF7: 10 + 7.5 - 10 = 7.5 dB left -> two 2 dB steps of TX power down as well
    assert modem.mac.tx_power >= 2


def test_a_device_refusing_the_power_is_not_asked_it_again(chain):
    agent, fwds, clock, air, modem = chain
    modem.mac.max_tx_power = 0  # this device only transmits at full power
    for seq in range(1, 9):
        send(agent, fwds, clock, air, modem, seq)
    assert modem.dr == 5 and modem.mac.tx_power == 0
    assert agent.metrics.get("adr_rejected") == 1  # the first request (DR5 + power) refused whole
    assert modem.mac.adr_refused == 1  # then the data rate alone, accepted; power never again


def test_link_check_counts_the_concentrators_that_heard_it(chain):
    agent, fwds, clock, air, modem = chain
    air.fwds, air.snrs = fwds, [10.0, -3.0]
    modem.mac.link_check()
    send(agent, fwds, clock, air, modem, 1)
    send(agent, fwds, clock, air, modem, 2)  # (a downlink with FOpts only reaches it next time round)
    assert modem.mac.last_link_check is not None
    margin, gateways = modem.mac.last_link_check
    assert gateways == 2 and margin == 30  # best SNR 10 dB at SF12 (floor -20 dB)


def test_dev_status_reaches_the_device_list(chain, capsys):
    agent, fwds, clock, air, modem = chain
    modem.mac.battery = 200
    for seq in range(1, 4):  # DevStatusReq rides the first downlink, the answer the next uplink
        send(agent, fwds, clock, air, modem, seq)
    st = agent.metrics.snapshot()["gauges"]["device_status"][DEV_EUI]
    assert st["battery"] == 200 and st["margin_db"] == 8  # the emulator hears downlinks at SNR 8 dB
    cfg_path = agent.agent.cfg.data_dir.parent / "list.toml"
    agent.stop()
    from gateway import config
    from gateway.netmac import device_status

    assert device_status(agent.agent.cfg.data_dir)[DEV_EUI]["battery"] == 200
    data_dir = str(agent.agent.cfg.data_dir)
    config.write(cfg_path, config.render({"gateway": {"id": "gw"}, "storage": {"data_dir": data_dir}}))
    from cli.main import main

    assert main(["gateway", "device", "list", "--config", str(cfg_path)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(DEV_EUI)][0]
    assert line.split()[-3:] == ["200", "8", "dB"]


def test_adr_and_dev_status_state_survive_an_agent_restart(chain):
    agent, fwds, clock, air, modem = chain
    modem.mac.max_tx_power = 0  # refuses any power step: the network must remember that
    modem.mac.battery = 180
    for seq in range(1, 5):
        send(agent, fwds, clock, air, modem, seq)
    before = agent.agent.ingest.netmac.devices[DEV_EUI]
    assert before.battery == 180 and before.adr.max_tx_power == 0 and before.status_at is not None
    assert modem.dr == 5 and agent.metrics.get("adr_rejected") == 1
    asked, requests, unsolicited = (
        modem.mac.adr_requests,
        agent.metrics.get("adr_requests"),
        agent.metrics.get("mac_unsolicited"),
    )
    agent.stop()  # SIGTERM-like stop: the record is saved with the registry
    cfg = agent.cfg
    again = AgentThread(cfg)
    fwds2 = [Forwarder(again.address, eui=f.eui) for f in fwds]
    try:
        for f in fwds2:
            f.pull()
        air.fwds = fwds2[:1]
        after = again.agent.ingest.netmac.devices[DEV_EUI]
        assert (after.adr.dr, after.adr.tx_power, after.adr.max_tx_power, list(after.adr.snr)) == (
            before.adr.dr, before.adr.tx_power, 0, list(before.adr.snr))  # fmt: skip
        assert (after.battery, after.margin_db, after.status_at) == (before.battery, before.margin_db, before.status_at)
        for seq in range(5, 9):
            send(again, fwds2, clock, air, modem, seq)
        # no power request again, no second DevStatusReq the same day: the restarted agent knew
        assert modem.mac.adr_requests == asked and again.metrics.get("adr_requests") == requests  # (counters persist)
        assert again.agent.ingest.netmac.devices[DEV_EUI].status_at == before.status_at
        assert again.metrics.get("mac_unsolicited") == unsolicited
    finally:
        for f in fwds2:
            f.close()
        again.stop()


def test_nb_trans_repeats_reach_the_agent_as_duplicates(chain):
    agent, fwds, clock, air, modem = chain
    modem.mac.nb_trans = 3  # as a LinkADRReq Redundancy byte would set it
    before, sent = len(air.sent), agent.metrics.get("downlinks_sent")  # (the Join-Accept)
    reading = {"seq": 1, "t": T0, "pm2_5": 8.0}
    at(modem, clock, "AT+MSGHEX=%s" % payload.encode(reading).hex(), until="Start")
    assert agent.wait("received_uplinks", 1) == 1
    assert agent.wait("downlinks_sent", sent + 1) == sent + 1
    fwds[0].pull_resp()  # a downlink the node does not hear: it repeats the frame
    time.sleep(0.3)  # past the agent's window for copies from several concentrators
    at(modem, clock, "AT", until="+MSGHEX: Done", limit=30000)  # three SF12 frames and their windows
    assert len(air.sent) - before == 3 and modem.repetitions == 2  # the frame and two repetitions
    assert agent.wait("duplicates", 2) == 2
    assert agent.metrics.get("replays") == 0 and agent.metrics.get("received_uplinks") == 1
