from drivers.errors import ChecksumError, NotPresent
from drivers.sht3x import SHT3x
from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C
from simulator.devices.sht3x import SHT3xEmulator
from tests.device.mptest import raises


def _setup(**kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(SHT3xEmulator(clock=clock))
    return clock, emu, SHT3x(i2c, clock=clock, **kw)


def test_datasheet_conversion_of_raw_words():
    # §4.13: S_T = 0x6666 -> -45 + 175 * 26214 / 65535 = 25.0 °C; S_RH = 0x8000 -> 50.00076 %RH
    clock, emu, drv = _setup()
    emu.set(temperature=-45 + 175 * 0x6666 / 65535, humidity=100 * 0x8000 / 65535)
    r = drv.read()
    assert abs(r["temperature"] - 25.0) < 1e-9
    assert abs(r["humidity"] - 50.00076) < 1e-4


def test_single_shot_commands_and_waits():
    for rep, cmd, wait in (("high", 0x2400, 16), ("medium", 0x240B, 7), ("low", 0x2416, 5)):
        clock, emu, drv = _setup(repeatability=rep)
        t0 = clock.ticks_ms()
        drv.read()
        assert emu.commands[-1] == cmd
        assert clock.ticks_diff(clock.ticks_ms(), t0) == wait
    with raises(ValueError):
        _setup(repeatability="ultra")


def test_heater_and_status():
    clock, emu, drv = _setup()
    assert not drv.heater_on()
    drv.heater(True)
    assert emu.heater and drv.heater_on()
    drv.heater(False)
    assert not drv.heater_on()
    drv.heater(True)
    drv.reset()
    assert not emu.heater


def test_faults():
    clock, emu, drv = _setup()
    emu.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    with raises(ChecksumError):
        drv.status()
    emu.fault("nack")
    with raises(NotPresent):
        drv.read()
    emu.fault(None)
    emu.set(temperature=-10.0)
    assert abs(drv.read()["temperature"] + 10.0) < 0.003
