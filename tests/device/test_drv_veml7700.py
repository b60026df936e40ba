from drivers.errors import InvalidValue, NotPresent
from drivers.veml7700 import VEML7700, correct
from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C
from simulator.devices.veml7700 import VEML7700Emulator
from tests.device.mptest import raises


def _setup(**kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(VEML7700Emulator(clock=clock))
    return clock, emu, VEML7700(i2c, clock=clock, **kw)


def test_resolution_table_of_the_application_note():
    # 0.0036 lx/count at x2 / 800 ms, doubling per halving of gain or time: x1/8 at 25 ms is
    # 16 x 32 x 0.0036 = 1.8432 lx/count (65535 counts: the datasheet's ~120 klx)
    i2c = VirtualI2C()
    assert abs(VEML7700(i2c, gain=2, integration_ms=800).resolution - 0.0036) < 1e-12
    assert abs(VEML7700(i2c, gain=1, integration_ms=100).resolution - 0.0576) < 1e-12
    assert abs(VEML7700(i2c, gain=0.125, integration_ms=25).resolution - 1.8432) < 1e-12
    assert abs(VEML7700(i2c, gain=0.25, integration_ms=400).resolution - 0.0576) < 1e-12


def test_correction_polynomial_values():
    # the formula at 1000 and 10000 lx of linear reading
    assert abs(correct(1000.0) - 1075.0) < 0.01
    assert abs(correct(10000.0) - 14792.9) < 0.01


def test_config_register_and_first_wait():
    clock, emu, drv = _setup(gain=0.25, integration_ms=200)
    emu.set(illuminance=50.0)
    t0 = clock.ticks_ms()
    lux = drv.read()["illuminance"]
    assert clock.ticks_diff(clock.ticks_ms(), t0) == 220
    assert emu.conf == (0b11 << 11) | (0b0001 << 6)
    assert abs(lux - 50.0) <= drv.resolution / 2 + 1e-9
    t0 = clock.ticks_ms()
    drv.read()
    assert clock.ticks_diff(clock.ticks_ms(), t0) == 0  # measuring continuously now


def test_bright_light_is_corrected():
    clock, emu, drv = _setup()
    for lux in (999.0, 5000.0, 30000.0, 100000.0):
        emu.set(illuminance=lux)
        got = drv.read()["illuminance"]
        assert abs(got - lux) / lux < 0.001, (lux, got)


def test_saturation_is_invalid_and_sleep_shuts_down():
    clock, emu, drv = _setup(gain=2, integration_ms=800)
    emu.set(illuminance=1000.0)  # beyond 236 lx of this setting
    with raises(InvalidValue):
        drv.read()
    drv.sleep()
    assert emu.conf & 1 and emu.asleep
    emu.set(illuminance=100.0)
    assert abs(drv.read()["illuminance"] - 100.0) < 0.01  # woken with its wait


def test_bad_options_and_absent_chip():
    with raises(ValueError):
        VEML7700(VirtualI2C(), gain=3)
    with raises(ValueError):
        VEML7700(VirtualI2C(), integration_ms=10)
    with raises(NotPresent):
        VEML7700(VirtualI2C(), clock=VirtualClock()).read()
