import struct

from drivers.dnms import DNMS
from drivers.errors import ChecksumError, NotPresent
from edge.clock import VirtualClock
from edge.crc import crc8_sensirion
from simulator.devices.dnms import DNMSEmulator
from simulator.devices.i2c import VirtualI2C
from tests.device.mptest import raises


def _setup():
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(DNMSEmulator(clock=clock))
    return clock, emu, DNMS(i2c, clock=clock)


def test_float_decoding_with_crc_on_the_wire():
    clock, emu, drv = _setup()
    emu.set(laeq=62.5, lamin=41.25, lamax=88.0)
    seen = []
    i2c_read = emu.on_read
    emu.on_read = lambda n: seen.append(i2c_read(n)) or seen[-1]
    r = drv.read()
    assert r == {"laeq": 62.5, "lamin": 41.25, "lamax": 88.0}
    wire = seen[-1]
    assert len(wire) == 18
    assert bytes((wire[0], wire[1], wire[3], wire[4])) == struct.pack(">f", 62.5) == b"\x42\x7a\x00\x00"
    assert wire[2] == crc8_sensirion(b"\x42\x7a") and wire[5] == crc8_sensirion(b"\x00\x00") == 0x81


def test_read_closes_an_interval_and_waits_for_data_ready():
    clock, emu, drv = _setup()
    t0 = clock.ticks_ms()
    drv.read()
    assert emu.intervals == 1 and 0 < clock.ticks_diff(clock.ticks_ms(), t0) <= 50
    assert emu.commands[:3] == [0x0003, 0x0004, 0x0004]
    assert emu.commands[-1] == 0x0005


def test_version():
    clock, emu, drv = _setup()
    assert drv.version() == "DNMS T4.0 5.4"
    emu.version = "XYZ"
    with raises(NotPresent):
        drv.version()


def test_faults():
    clock, emu, drv = _setup()
    emu.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    emu.fault("nack")
    with raises(NotPresent):
        drv.read()
    emu.fault("stuck")
    emu.set(laeq=99.0)
    assert drv.read()["laeq"] == 45.0
    emu.fault(None)
    drv.reset()
    assert emu.commands[-1] == 0x0001
