from drivers.errors import NotPresent, NotReady
from drivers.pcb_db import DecibelMeter
from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C
from simulator.devices.pcb_db import DecibelMeterEmulator
from tests.device.mptest import raises


def _setup(**kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(DecibelMeterEmulator(clock=clock))
    return clock, emu, DecibelMeter(i2c, clock=clock, **kw)


def test_not_ready_until_the_first_window():
    clock, emu, drv = _setup()
    with raises(NotReady):
        drv.read()
    clock.advance(1000)
    emu.set(laeq=63.4, lamin=51.0, lamax=79.6)
    assert drv.read() == {"laeq": 63.0, "lamin": 51.0, "lamax": 80.0}


def test_configures_weighting_and_averaging_time():
    clock, emu, drv = _setup(weighting="C", averaging_ms=125)
    clock.advance(200)
    drv.read()
    assert emu.regs[0x06] == 0x04 and (emu.regs[0x07] << 8 | emu.regs[0x08]) == 125
    with raises(ValueError):
        DecibelMeter(VirtualI2C(), weighting="B")


def test_min_max_cover_the_interval_since_the_previous_read():
    clock, emu, drv = _setup()
    clock.advance(1000)
    drv.read()
    assert emu.commands[-1] == 0x09  # cleared min/max after reading them
    r = drv.read()  # immediately again: min/max not recalculated yet, only the level
    assert r == {"laeq": 50.0}
    clock.advance(1000)
    assert drv.read() == {"laeq": 50.0, "lamin": 45.0, "lamax": 60.0}


def test_version_and_id():
    clock, emu, drv = _setup()
    assert drv.version() == 0x31 and drv.unique_id() == 0x1A2B3C4D


def test_power_down_and_wake():
    clock, emu, drv = _setup()
    drv.sleep()
    assert emu.asleep
    with raises(NotReady):
        drv.read()
    drv.wake()
    assert not emu.asleep and emu.regs[0x06] == 0x02
    with raises(NotReady):
        drv.read()
    clock.advance(DecibelMeter.WARMUP_MS)
    assert drv.read()["laeq"] == 50.0


def test_faults():
    clock, emu, drv = _setup()
    clock.advance(1000)
    emu.fault("nack")
    with raises(NotPresent):
        drv.read()
    emu.fault("stuck")
    emu.set(laeq=90.0)
    assert drv.read()["laeq"] == 50.0
    emu.fault("asleep")
    with raises(NotReady):  # powered down behind the driver's back: no level
        drv.read()
    drv.wake()
    clock.advance(DecibelMeter.WARMUP_MS)
    assert drv.read()["laeq"] == 50.0
