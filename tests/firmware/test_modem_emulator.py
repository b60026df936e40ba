"""The LoRa-E5 emulator driven by the real driver: real LoRaWAN frames out, downlinks back."""

from edge.clock import VirtualClock
from firmware.modem import LoRaE5
from gateway import lorawan
from simulator.modem.e5 import LoRaE5Emulator
from simulator.modem.network import LoopbackNetwork

EUI = bytes.fromhex("70b3d57ed0000042")
KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")


def setup(register_key=KEY, duty_cycle=True):
    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    net.register(EUI, register_key)
    frames = []

    def radio(modem, phy, freq, dr, start_ms, airtime_ms):
        frames.append((phy, freq, dr, start_ms, airtime_ms))
        net(modem, phy, freq, dr, start_ms, airtime_ms)

    emu = LoRaE5Emulator(clock, radio=radio, duty_cycle=duty_cycle)
    drv = LoRaE5(emu, clock)
    assert drv.probe()
    drv.configure(EUI, bytes(8), KEY, 5)
    return clock, net, emu, drv, frames


def test_otaa_join_and_an_encrypted_uplink():
    clock, net, emu, drv, frames = setup()
    assert drv.join() and emu.session is not None
    req = lorawan.parse_join_request(frames[0][0], KEY)  # a real join-request, MIC checked
    assert req.dev_eui == EUI and req.dev_nonce == 1
    assert drv.send(b"\x00", 1).error == "no_band"  # the join closed the sub-band for ~6 s
    clock.advance(7000)
    res = drv.send(b"\x20\x01\x02", 1)
    assert res.sent and res.error is None
    frame = lorawan.parse_phy(frames[-1][0])
    assert isinstance(frame, lorawan.DataFrame) and frame.fport == 1
    s = emu.session
    assert frame.mic_ok(s.nwkskey, 0) and frame.decrypt(s.nwkskey, s.appskey, 0) == b"\x20\x01\x02"
    assert frames[-1][1] in (868100000, 868300000, 868500000) and frames[-1][2] == 5


def test_downlink_in_rx1_reaches_the_driver():
    clock, net, emu, drv, frames = setup()
    drv.join()
    net.queue(EUI, b"\x01\x05\x00\x00\x00")
    clock.advance(10000)
    res = drv.send(b"\x00", 1)
    assert res.port == 2 and res.data == b"\x01\x05\x00\x00\x00" and res.rssi == -60
    assert frames[-1][3] + frames[-1][4] + 1000 <= clock.monotonic_ms()  # Done after RX1


def test_join_with_a_wrong_key_fails_and_send_needs_a_join():
    clock, net, emu, drv, frames = setup(register_key=bytes(16))
    assert not drv.join() and emu.session is None
    assert drv.send(b"\x00", 1).error == "not_joined"


def test_modem_limits_length_and_duty_cycle():
    clock, net, emu, drv, frames = setup()
    drv.join()
    assert drv.max_payload() == 222
    drv.set_dr(0)
    assert drv.max_payload() == 51
    assert drv.send(bytes(52), 1).error == "length"
    clock.advance(10000)
    assert drv.send(bytes(51), 1).sent
    res = drv.send(bytes(10), 1)  # 2.8 s at SF12 closes the sub-band for 4.6 minutes
    assert res.error == "no_band" and 250000 < res.wait_ms < 290000


def test_low_power_and_wake():
    clock, net, emu, drv, frames = setup()
    drv.sleep()
    assert emu.asleep
    assert drv.probe() and not emu.asleep


def test_bad_mic_downlink_is_dropped():
    clock, net, emu, drv, frames = setup()
    drv.join()
    s = emu.session
    forged = lorawan.build_data_frame(
        nwkskey=bytes(16), appskey=s.appskey, dev_addr=s.dev_addr, fcnt32=0, uplink=False, fport=2, payload=b"\x05\xb0"
    )
    clock.advance(10000)
    drv.begin_send(b"\x00", 1)
    emu.deliver(forged)
    while drv.poll() is None:
        clock.advance(100)
    assert emu.downlinks_rejected == 1


def test_unknown_commands_and_garbage_get_errors():
    clock, net, emu, drv, frames = setup()
    emu.write(b"AT+FOO\r\n")
    emu.write(b"hello\r\n")
    emu.write(b"AT+DR=42\r\n")
    out = emu.read().decode()
    assert "+FOO: ERROR(-10)" in out and "+AT: ERROR(-10)" in out and "+DR: ERROR(-1)" in out
