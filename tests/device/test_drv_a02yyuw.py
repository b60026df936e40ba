from drivers.a02yyuw import A02YYUW
from drivers.errors import ChecksumError, InvalidValue, SensorTimeout
from edge.clock import VirtualClock
from simulator.devices.a02yyuw import A02YYUWEmulator
from tests.device.mptest import raises
from tests.device.test_drv_sds011 import _Line


def _setup():
    clock = VirtualClock()
    emu = A02YYUWEmulator(clock=clock)
    return clock, emu, A02YYUW(emu, clock=clock)


def test_wiki_example_frame():
    # DFRobot SEN0311 wiki: FF 07 A1 A7 is 0x07A1 = 1953 mm, sum (FF + 07 + A1) & FF = A7
    line = _Line(bytes.fromhex("FF07A1A7"), silent_polls=1)
    assert A02YYUW(line, clock=VirtualClock()).read() == {"distance": 1.953}


def test_bad_sum_then_good_frame_resynchronises():
    # a frame with a wrong sum whose data byte is 0xFF: the real frame starts inside it
    line = _Line(bytes.fromhex("FF01FF00") + bytes.fromhex("FF07A1A7"), silent_polls=1)
    drv = A02YYUW(line, clock=VirtualClock())
    assert drv.read() == {"distance": 1.953}


def test_reads_the_newest_frame_not_a_stale_one():
    clock, emu, drv = _setup()
    emu.set(distance=2.0)
    clock.advance(3000)  # thirty old frames wait
    emu.set(distance=0.5)
    t0 = clock.ticks_ms()
    assert drv.read() == {"distance": 0.5}
    assert clock.ticks_diff(clock.ticks_ms(), t0) <= 100 + 20


def test_no_echo_is_invalid_never_a_value():
    clock, emu, drv = _setup()
    emu.fault("no_echo")
    with raises(InvalidValue):
        drv.read()


def test_only_bad_frames_raise_checksum_error():
    clock, emu, drv = _setup()
    emu.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    emu.fault("nack")
    with raises(SensorTimeout):
        drv.read()


def test_noise_and_dropouts_stay_bounded():
    clock, emu, drv = _setup()
    emu.set(distance=1.5)
    emu.noise_m = 0.01
    emu.dropout = 0.3
    got = []
    invalid = 0
    for _ in range(60):
        try:
            got.append(drv.read()["distance"])
        except InvalidValue:
            invalid += 1
    assert 5 < invalid < 35, invalid
    assert all(abs(d - 1.5) <= 0.03 + 0.001 for d in got)
    assert max(got) - min(got) > 0.005  # the noise is there
