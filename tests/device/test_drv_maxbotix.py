from drivers.errors import InvalidValue, SensorTimeout
from drivers.maxbotix import MaxBotix
from edge.clock import VirtualClock
from simulator.devices.maxbotix import MaxBotixEmulator
from tests.device.mptest import raises
from tests.device.test_drv_sds011 import _Line


def _setup():
    clock = VirtualClock()
    emu = MaxBotixEmulator(clock=clock)
    return clock, emu, MaxBotix(emu, clock=clock)


def test_datasheet_format():
    # "R" + four ASCII digits in mm + carriage return: R1234<CR> is 1.234 m
    line = _Line(b"R1234\r", silent_polls=1)
    assert MaxBotix(line, clock=VirtualClock()).read() == {"distance": 1.234}


def test_malformed_frames_are_skipped():
    line = _Line(b"R12x4\rR99R0567\r", silent_polls=1)
    assert MaxBotix(line, clock=VirtualClock()).read() == {"distance": 0.567}
    line = _Line(b"R12345\r", silent_polls=1)  # five digits: no frame
    with raises(SensorTimeout):
        MaxBotix(line, clock=VirtualClock()).read()


def test_range_limits_are_invalid():
    for text in (b"R5000\r", b"R0300\r"):
        line = _Line(text, silent_polls=1)
        with raises(InvalidValue):
            MaxBotix(line, clock=VirtualClock()).read()


def test_emulator_round_trip_and_no_target():
    clock, emu, drv = _setup()
    emu.set(distance=3.21)
    assert drv.read() == {"distance": 3.21}
    emu.fault("no_echo")
    with raises(InvalidValue):
        drv.read()


def test_spurious_echoes_read_shorter():
    clock, emu, drv = _setup()
    emu.set(distance=4.0)
    emu.spurious = 0.5
    got = [drv.read()["distance"] for _ in range(40)]
    short = [d for d in got if d < 3.9]
    assert 5 < len(short) < 35, len(short)
    assert all(d == 4.0 for d in got if d >= 3.9)
