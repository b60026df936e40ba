from drivers.errors import InvalidValue, NotPresent, NotReady
from drivers.vl53l1x import VL53L1X
from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C
from simulator.devices.vl53l1x import VL53L1XEmulator
from tests.device.mptest import raises


def _setup(**kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(VL53L1XEmulator(clock=clock))
    return clock, emu, VL53L1X(i2c, clock=clock, **kw)


def test_init_writes_the_uld_default_configuration():
    clock, emu, drv = _setup()
    emu.set(distance=1.234)
    assert drv.read() == {"distance": 1.234}
    r = emu.regs
    # a few bytes of the ULD default block: interrupt on new sample, sigma threshold 90 mm (14.2)
    assert r[0x46] == 0x20 and (r[0x64] << 8 | r[0x65]) == 0x0168 and r[0x30] == 0x01
    assert r[0x08] == 0x09 and r[0x0B] == 0x00  # after the VHV settling range
    # long mode, 100 ms: the ULD tables
    assert (r[0x4B], r[0x60], r[0x63], r[0x69]) == (0x0A, 0x0F, 0x0D, 0xB8)
    assert (r[0x5E] << 8 | r[0x5F], r[0x61] << 8 | r[0x62]) == (0x01CC, 0x01EA)
    assert emu.commands[-1] == 0x40 and emu.ranging


def test_short_mode_budget_and_reach():
    clock, emu, drv = _setup(distance_mode="short", timing_budget_ms=20)
    r = emu.regs
    emu.set(distance=0.8)
    assert drv.read() == {"distance": 0.8}
    assert (r[0x4B], r[0x78] << 8 | r[0x79]) == (0x14, 0x0705)
    assert emu.budget_ms() == 20
    t0 = clock.ticks_ms()
    drv.read()
    assert clock.ticks_diff(clock.ticks_ms(), t0) <= 20 + 5
    emu.set(distance=2.0)  # beyond 1.3 m of short mode: signal fail
    with raises(InvalidValue):
        drv.read()
    assert drv.status == 4


def test_options_are_checked():
    with raises(ValueError):
        VL53L1X(VirtualI2C(), distance_mode="medium")
    with raises(ValueError):
        VL53L1X(VirtualI2C(), distance_mode="long", timing_budget_ms=15)  # short mode only


def test_wrong_chip_and_absent_chip():
    clock, emu, drv = _setup()
    emu.regs[0x010F] = 0xEE
    with raises(NotPresent):
        drv.read()
    with raises(NotPresent):
        VL53L1X(VirtualI2C(), clock=VirtualClock()).read()


def test_sleep_stops_ranging():
    clock, emu, drv = _setup()
    drv.read()
    drv.sleep()
    assert not emu.ranging
    with raises(NotReady):
        drv.read()
    n = emu.ranges
    clock.advance(10000)
    drv.wake()
    emu.set(distance=0.5)
    assert drv.read() == {"distance": 0.5}
    assert emu.ranges == n + 1
