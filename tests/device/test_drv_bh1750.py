from drivers.bh1750 import BH1750
from drivers.errors import NotPresent
from edge.clock import VirtualClock
from simulator.devices.bh1750 import BH1750Emulator
from simulator.devices.i2c import VirtualI2C
from tests.device.mptest import raises


def _setup(**kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(BH1750Emulator(clock=clock))
    return clock, emu, BH1750(i2c, clock=clock, **kw)


def test_datasheet_example_count():
    # BH1750FVI datasheet p.11: high byte 1000_0011, low byte 1001_0000 = 33680 counts
    # -> 33680 / 1.2 = 28067 lx in H-resolution mode
    clock, emu, drv = _setup()
    emu.set(illuminance=33680 / 1.2)
    assert abs(drv.read()["illuminance"] - 28066.67) < 0.01
    assert emu.commands[-2:] == [0x01, 0x20]


def test_modes_wait_their_time_and_resolution():
    cases = (("high", 0x20, 180, 1 / 1.2), ("high2", 0x21, 180, 1 / 2.4), ("low", 0x23, 24, 1 / 1.2))
    for mode, op, wait, step in cases:
        clock, emu, drv = _setup(mode=mode)
        emu.set(illuminance=12.34)
        t0 = clock.ticks_ms()
        lux = drv.read()["illuminance"]
        assert clock.ticks_diff(clock.ticks_ms(), t0) == wait
        assert abs(lux - 12.34) <= step / 2 + 1e-9, (mode, lux)
        assert emu.commands[-1] == op and emu.asleep  # one-time mode powered it down


def test_bad_mode_and_absent_chip():
    with raises(ValueError):
        BH1750(VirtualI2C(), mode="fast")
    with raises(NotPresent):
        BH1750(VirtualI2C(), clock=VirtualClock()).read()


def test_sleep_and_wake_are_power_opcodes():
    clock, emu, drv = _setup()
    drv.wake()
    assert not emu.asleep
    drv.sleep()
    assert emu.asleep and emu.commands[-1] == 0x00
