"""The LoRa-E5 emulator's MAC layer driven by the real driver: ADR commands in real FOpts."""

from gateway.lorawan import maccmd
from simulator.modem import device_mac
from tests.firmware.test_modem_emulator import EUI, setup


def _joined(cflist=None, adr=True):
    clock, net, emu, drv, frames = setup(duty_cycle=False)
    net.devices[EUI].cflist = cflist
    drv.set_dr(0)
    drv._simple("AT+ADR=%s" % ("ON" if adr else "OFF"), "ADR")
    assert drv.join()
    return clock, net, emu, drv, frames


def test_cflist_adds_the_five_channels():
    clock, net, emu, drv, frames = _joined(cflist=maccmd.build_cflist())
    assert emu.channels == list(maccmd.EU868_CHANNELS)
    seen = set()
    for _ in range(60):
        clock.advance(1000)
        drv.send(b"\x00", 1)
        seen.add(frames[-1][1])
    assert seen == set(maccmd.EU868_CHANNELS)  # 8 channels, two sub-bands


def test_link_adr_req_applied_and_answered_in_fopts():
    clock, net, emu, drv, frames = _joined(cflist=maccmd.build_cflist())
    req = maccmd.build_link_adr_req(maccmd.LinkADRReq(dr=5, tx_power=3, ch_mask=0xFF))
    net.devices[EUI].mac_queue.append(req)
    drv.send(b"\x00", 1)
    assert frames[-1][2] == 0
    assert drv.query_dr() == 5 and emu.mac.tx_power == 3
    drv.send(b"\x00", 1)
    assert frames[-1][2] == 5  # the next frame goes at SF7
    assert net.devices[EUI].fopts_up[-1] == bytes.fromhex("0307")  # LinkADRAns, all three ACKs


def test_power_the_device_cannot_do_is_refused_whole():
    clock, net, emu, drv, frames = _joined()
    emu.mac.max_tx_power = 2
    net.devices[EUI].mac_queue.append(maccmd.build_link_adr_req(maccmd.LinkADRReq(dr=5, tx_power=5, ch_mask=7)))
    drv.send(b"\x00", 1)
    drv.send(b"\x00", 1)
    assert net.devices[EUI].fopts_up[-1] == bytes.fromhex("0303")  # power NACK (bit 2 clear), DR and channels ACK
    assert emu.dr == 0 and emu.mac.tx_power == 0  # nothing applied


def test_garbage_and_unasked_commands_are_counted_not_fatal():
    clock, net, emu, drv, frames = _joined()
    # LinkADRReq with DR8 (the certification's incorrect frame), then an unknown CID 0x7f
    net.devices[EUI].mac_queue.append(bytes.fromhex("03800000007f01"))
    drv.send(b"\x00", 1)
    assert emu.mac.ignored == 2 and emu.dr == 0
    assert drv.send(b"\x00", 1).sent


def test_dev_status_and_link_check():
    clock, net, emu, drv, frames = _joined()
    net.devices[EUI].mac_queue.append(b"\x06")
    emu.mac.link_check()
    drv.send(b"\x00", 1)
    assert net.devices[EUI].fopts_up[-1] == b"\x02"  # LinkCheckReq
    net.devices[EUI].mac_queue.append(b"\x02\x0c\x02")  # LinkCheckAns: 12 dB, 2 gateways
    drv.send(b"\x00", 1)
    assert net.devices[EUI].fopts_up[-1] == bytes((6, 254, 8))  # DevStatusAns: battery, SNR 8 dB margin
    drv.send(b"\x00", 1)
    assert emu.mac.last_link_check == (12, 2)


def test_adr_ack_back_off_without_downlinks():
    clock, net, emu, drv, frames = _joined()
    emu.mac.dr, emu.mac.tx_power = 5, 2
    lim, delay = device_mac.ADR_ACK_LIMIT, device_mac.ADR_ACK_DELAY
    for _ in range(lim):
        drv.send(b"\x00", 1)
    assert net.devices[EUI].adr_ack_reqs == 0
    for _ in range(delay):
        drv.send(b"\x00", 1)
    assert net.devices[EUI].adr_ack_reqs == delay and (emu.dr, emu.mac.tx_power) == (5, 2)
    drv.send(b"\x00", 1)  # ADR_ACK_DELAY uplinks unanswered: full power first
    assert (emu.dr, emu.mac.tx_power) == (5, 0)
    for _ in range(delay):
        drv.send(b"\x00", 1)
    assert emu.dr == 4  # then one data rate lower every ADR_ACK_DELAY
    net.devices[EUI].mac_queue.append(b"")  # any downlink resets the count
    net.devices[EUI].queue.append(b"\x01")
    drv.send(b"\x00", 1)
    assert emu.mac.adr_ack_cnt == 0


def test_node_follows_the_networks_data_rate(tmp_path):
    from tests.firmware.nodekit import LORAWAN, Kit, config

    k = Kit(tmp_path, cfg=config(lorawan={**LORAWAN, "dr": 0}))
    k.node.run_interval()
    k.node.run_interval()
    assert k.node.dr == 0 and k.modem.adr  # AT+ADR=ON by default
    sf12_ms = k.modem.tx_log[-1][2]
    k.dev.mac_queue.append(maccmd.build_link_adr_req(maccmd.LinkADRReq(dr=5, tx_power=0, ch_mask=7)))
    k.node.run_interval()
    k.node.run_interval()
    assert k.node.dr == 5 and k.node.counters["dr_changes"] == 1
    assert k.dev.fopts_up[-1] == bytes.fromhex("0307")
    # the same frame now takes SF7's airtime, and the node's bookkeeping charges what was sent
    sf7_ms = k.modem.tx_log[-1][2]
    assert sf7_ms * 15 < sf12_ms
    # (less the 2 bytes of LinkADRAns the modem added in FOpts, which the node never sees: a few ms;
    # the modem's own duty-cycle limiter counts them)
    assert 0 <= sum(a for _, _, a in k.modem.tx_log) - k.node.airtime.used_ms < 20


def test_mac_commands_on_fport_0_both_ways():
    clock, net, emu, drv, frames = _joined(cflist=maccmd.build_cflist())
    link_adr = maccmd.build_link_adr_req(maccmd.LinkADRReq(dr=3, tx_power=1, ch_mask=0xFF))
    # 4 x DevStatusReq + a LinkADRReq: 9 bytes fit FOpts; their answers (4 x 3 + 2 = 14) too
    net.devices[EUI].mac_queue.append(maccmd.DEV_STATUS_REQ * 4 + link_adr)
    drv.send(b"\x00", 1)
    assert emu.dr == 3 and net.devices[EUI].fopts_up[-1] == b""
    # 16 bytes of requests: the network sends them on FPort 0, the device takes them the same way
    net.devices[EUI].mac_queue.append(maccmd.DEV_STATUS_REQ * 11 + maccmd.build_link_adr_req(
        maccmd.LinkADRReq(dr=4, tx_power=2, ch_mask=0xFF)))  # fmt: skip
    drv.send(b"", 1)  # carries the 14 answer bytes in FOpts, and gets the FPort-0 downlink
    assert len(net.devices[EUI].fopts_up[-1]) == 14 and emu.dr == 4 and emu.mac.tx_power == 2
    # 11 DevStatusAns + 1 LinkADRAns = 35 bytes: an uplink without payload sends them all on FPort 0
    drv.send(b"", 1)
    up = net.devices[EUI].fopts_up[-1]
    assert len(up) == 35 and up.count(bytes((maccmd.DEV_STATUS,))) >= 11 and up.endswith(bytes.fromhex("0307"))
    assert emu.mac.ignored == 0
