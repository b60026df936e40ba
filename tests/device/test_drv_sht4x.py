from drivers.errors import ChecksumError, NotPresent, SensorError
from drivers.sht4x import SHT4x
from edge.clock import VirtualClock
from edge.crc import crc8_sensirion
from simulator.devices.i2c import VirtualI2C
from simulator.devices.sht4x import SHT4xEmulator
from tests.device.mptest import raises


def _setup(**kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(SHT4xEmulator(clock=clock))
    return clock, emu, SHT4x(i2c, clock=clock, **kw)


def test_sensirion_crc_vector():
    assert crc8_sensirion(b"\xbe\xef") == 0x92


def test_conversion_datasheet_formulas():
    clock, emu, drv = _setup()
    emu.set(temperature=25.0, humidity=50.0)
    r = drv.read()
    # raw ticks the chip sends for 25 °C / 50 %RH, converted back with §4.6
    st = round(70.0 * 65535 / 175.0)
    srh = round(56.0 * 65535 / 125.0)
    assert abs(r["temperature"] - (-45 + 175 * st / 65535)) < 1e-9
    assert abs(r["humidity"] - (-6 + 125 * srh / 65535)) < 1e-9
    assert emu.commands[-1] == 0xFD


def test_humidity_clipped_to_0_100():
    clock, emu, drv = _setup()
    emu.values["humidity"] = 110.0  # the linear fit can exceed 100 at high humidity
    assert drv.read()["humidity"] == 100.0
    emu.values["humidity"] = -5.0
    assert drv.read()["humidity"] == 0.0


def test_waits_the_datasheet_time_per_precision():
    for precision, cmd, wait in (("high", 0xFD, 9), ("medium", 0xF6, 5), ("low", 0xE0, 2)):
        clock, emu, drv = _setup(precision=precision)
        t0 = clock.ticks_ms()
        drv.read()
        assert clock.ticks_diff(clock.ticks_ms(), t0) == wait
        assert emu.commands[-1] == cmd


def test_read_before_ready_nacks():
    clock = VirtualClock()
    i2c = VirtualI2C()
    i2c.attach(SHT4xEmulator(clock=clock))
    i2c.writeto(0x44, b"\xfd")
    with raises(OSError):
        i2c.readfrom(0x44, 6)
    clock.advance(9)
    assert len(i2c.readfrom(0x44, 6)) == 6


def test_heater_then_measurement():
    clock, emu, drv = _setup()
    emu.set(temperature=30.0, humidity=90.0)
    t0 = clock.ticks_ms()
    r = drv.heat(200, long=False)
    assert clock.ticks_diff(clock.ticks_ms(), t0) == 110
    assert abs(r["humidity"] - 90.0) < 0.01 and emu.commands[-1] == 0x32
    with raises(ValueError):
        drv.heat(55)


def test_serial_number():
    clock, emu, drv = _setup()
    assert drv.serial_number() == 0x12345678


def test_faults():
    clock, emu, drv = _setup()
    emu.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    emu.fault("nack")
    with raises(NotPresent):
        drv.read()
    emu.fault(None)
    assert "temperature" in drv.read()
    with raises(ValueError):
        emu.fault("asleep")  # the SHT4x has no sleep state to fake


def test_absent_sensor_is_a_sensor_error():
    clock = VirtualClock()
    drv = SHT4x(VirtualI2C(), clock=clock)
    with raises(SensorError):
        drv.read()
