from drivers.errors import ChecksumError, NotPresent, NotReady
from drivers.sensirion import SensirionI2C
from drivers.sps30 import SPS30
from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C
from simulator.devices.sps30 import SPS30Emulator
from tests.device.mptest import raises


def _setup():
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(SPS30Emulator(clock=clock))
    return clock, i2c, emu, SPS30(i2c, clock=clock)


def test_float_words_with_crc_decode():
    # 0x42F6E666 is 123.45 as a big-endian float (IEEE-754); each word carries its own CRC
    from edge.crc import crc8_sensirion

    clock = VirtualClock()

    class _Bus:
        def writeto(self, addr, buf):
            pass

        def readfrom_into(self, addr, buf):
            raw = bytes((0x42, 0xF6, crc8_sensirion(b"\x42\xf6"), 0xE6, 0x66, crc8_sensirion(b"\xe6\x66")))
            for i in range(6):
                buf[i] = raw[i]

    b = SensirionI2C(_Bus(), 0x69, 2, clock)
    b.read_words(2)
    assert abs(b.float(0) - 123.45) < 1e-4


def test_start_argument_carries_its_crc():
    clock, i2c, emu, drv = _setup()
    seen = []
    orig = emu.on_write
    emu.on_write = lambda data: (seen.append(bytes(data)), orig(data))
    drv.start()
    assert seen[-1] == b"\x00\x10\x03\x00\xac"  # §6.3.1: 0x0300 with CRC 0xAC


def test_measure_cycle():
    clock, i2c, emu, drv = _setup()
    drv.wake()
    assert emu.measuring
    with raises(NotReady):
        drv.read()
    clock.advance(SPS30.WARMUP_MS)
    emu.set(pm1=1.5, pm2_5=4.25, pm4=6.0, pm10=9.75)
    emu.numbers = [10.0, 12.0, 13.0, 13.5, 13.6]
    emu.typical_size = 0.6
    r = drv.read()
    assert r == {"pm1": 1.5, "pm2_5": 4.25, "pm4": 6.0, "pm10": 9.75}
    assert abs(drv.numbers[0] - 10.0) < 1e-5 and abs(drv.typical_size - 0.6) < 1e-6
    t0 = clock.ticks_ms()
    drv.read()  # waits for the next measurement, at most a second
    assert 0 < clock.ticks_diff(clock.ticks_ms(), t0) <= 1100


def test_sleep_and_double_wake():
    clock, i2c, emu, drv = _setup()
    drv.wake()
    drv.sleep()
    assert emu.asleep and not emu.measuring
    with raises(NotReady):
        drv.read()
    with raises(NotPresent):  # asleep: the interface NACKs everything but the wake pulse
        drv.data_ready()
    clock.advance(1000)
    drv.wake()
    assert not emu.asleep and emu.measuring


def test_fan_cleaning_and_serial():
    clock, i2c, emu, drv = _setup()
    with raises(NotReady):
        drv.clean_fan()
    drv.start()
    drv.clean_fan()
    assert emu.cleaning_until is not None and emu.commands[-1] == 0x5607
    assert drv.serial_number() == "8C4F1A2B3D5E6F70"


def test_faults():
    clock, i2c, emu, drv = _setup()
    drv.start()
    clock.advance(SPS30.WARMUP_MS)
    emu.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    emu.fault("nack")
    with raises(NotPresent):
        drv.read()
    emu.fault("asleep")
    with raises(NotPresent):
        drv.read()
    drv.wake()
    clock.advance(SPS30.WARMUP_MS)
    assert "pm4" in drv.read()
