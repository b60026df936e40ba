# The generic contract over every emulator (Zephyr's sensor-emulator test is the model): sweep each
# quantity across the chip's range, read it back through the real driver on the bus, and require
# it within the chip's resolution; then every fault mode gives its typed exception or its
# documented recovery, and the sensor reads correctly again once the fault clears.
import os

from drivers.a02yyuw import A02YYUW
from drivers.bh1750 import BH1750
from drivers.bme280 import BME280
from drivers.counter import BeamCounter, PulseCounter
from drivers.dnms import DNMS
from drivers.errors import ChecksumError, InvalidValue, NoFix, NotPresent, NotReady, SensorError, SensorTimeout
from drivers.gnss import GNSS
from drivers.maxbotix import MaxBotix
from drivers.pcb_db import DecibelMeter
from drivers.pms5003 import PMS5003
from drivers.sds011 import SDS011
from drivers.sht3x import SHT3x
from drivers.sht4x import SHT4x
from drivers.sps30 import SPS30
from drivers.veml7700 import VEML7700
from drivers.vl53l1x import VL53L1X
from edge import vocab
from edge.clock import VirtualClock
from simulator.devices.a02yyuw import A02YYUWEmulator
from simulator.devices.base import Emulator
from simulator.devices.bh1750 import BH1750Emulator
from simulator.devices.bme280 import BME280Emulator
from simulator.devices.dnms import DNMSEmulator
from simulator.devices.gnss import GNSSEmulator
from simulator.devices.i2c import VirtualI2C
from simulator.devices.maxbotix import MaxBotixEmulator
from simulator.devices.pcb_db import DecibelMeterEmulator
from simulator.devices.pins import PASSAGE_IN, PASSAGE_OUT, IrqGuard, VirtualPin, walk
from simulator.devices.pms5003 import PMS5003Emulator
from simulator.devices.sds011 import SDS011Emulator
from simulator.devices.sht3x import SHT3xEmulator
from simulator.devices.sht4x import SHT4xEmulator
from simulator.devices.sps30 import SPS30Emulator
from simulator.devices.veml7700 import VEML7700Emulator
from simulator.devices.vl53l1x import VL53L1XEmulator
from tests.device.mptest import raises

SWEEP_POINTS = 13


def _i2c(emu_cls, drv_cls):
    def make(clock):
        i2c = VirtualI2C()
        emu = i2c.attach(emu_cls(clock=clock))
        return emu, drv_cls(i2c, clock=clock)

    return make


def _uart(emu_cls, drv_cls):
    def make(clock):
        emu = emu_cls(clock=clock)
        return emu, drv_cls(emu, clock=clock)

    return make


def _wake(drv, clock):
    drv.wake()
    clock.advance(drv.WARMUP_MS)


def _nothing(drv, clock):
    pass


def _new_window(drv, clock):
    clock.advance(1000)  # the decibel meter's averaging window


# (module, make, bus, before the first read, before every read, what "asleep" raises)
SPECS = (
    ("sds011", _uart(SDS011Emulator, SDS011), "uart", _nothing, _nothing, SensorTimeout),
    ("pms5003", _uart(PMS5003Emulator, PMS5003), "uart", _nothing, _nothing, SensorTimeout),
    ("sps30", _i2c(SPS30Emulator, SPS30), "i2c", _wake, _nothing, NotPresent),
    ("sht3x", _i2c(SHT3xEmulator, SHT3x), "i2c", _nothing, _nothing, None),
    ("sht4x", _i2c(SHT4xEmulator, SHT4x), "i2c", _nothing, _nothing, None),
    ("bme280", _i2c(BME280Emulator, BME280), "i2c", _nothing, _nothing, None),
    ("dnms", _i2c(DNMSEmulator, DNMS), "i2c", _nothing, _nothing, None),
    ("pcb_db", _i2c(DecibelMeterEmulator, DecibelMeter), "i2c", _new_window, _new_window, NotReady),
    ("a02yyuw", _uart(A02YYUWEmulator, A02YYUW), "uart", _nothing, _nothing, None),
    ("maxbotix", _uart(MaxBotixEmulator, MaxBotix), "uart", _nothing, _nothing, None),
    ("vl53l1x", _i2c(VL53L1XEmulator, VL53L1X), "i2c", _nothing, _nothing, None),
    ("veml7700", _i2c(VEML7700Emulator, VEML7700), "i2c", _nothing, _nothing, None),
    ("bh1750", _i2c(BH1750Emulator, BH1750), "i2c", _nothing, _nothing, None),
    ("gnss", _uart(GNSSEmulator, GNSS), "uart", _nothing, _nothing, None),
)


def _points(lo, hi):
    return [lo + (hi - lo) * k / (SWEEP_POINTS - 1) for k in range(SWEEP_POINTS)]


def test_every_sensor_emulator_has_a_contract_spec():
    # any module of simulator/devices that defines a sensor emulator (an Emulator with
    # quantities) must be in SPECS; other emulators (a modem, say) may live there too
    here = __file__.replace("\\", "/").rsplit("/", 3)[0]
    found = []
    for n in os.listdir(here + "/simulator/devices"):
        if not n.endswith(".py") or n == "__init__.py":
            continue
        mod = __import__("simulator.devices." + n[:-3], None, None, ["*"])
        for attr in dir(mod):
            obj = getattr(mod, attr)
            if isinstance(obj, type) and issubclass(obj, Emulator) and obj.QUANTITIES:
                if getattr(obj, "__module__", mod.__name__) == mod.__name__ and n[:-3] not in found:
                    found.append(n[:-3])
    assert sorted(found) == sorted(s[0] for s in SPECS), found


def test_quantities_are_vocabulary_names_with_sane_ranges():
    # the chip's range may exceed the vocabulary's (an SHT3x reads up to 125 °C): the sweep covers
    # the chip, the payload codec and the gateway enforce the vocabulary
    for name, make, _, _, _, _ in SPECS:
        emu, _ = make(VirtualClock())
        for q, (lo, hi, res) in emu.QUANTITIES.items():
            vlo, vhi = vocab.valid_range(q)
            assert lo < hi and lo < vhi and hi > vlo, (name, q)
            assert 0 < res <= (hi - lo) / 50, (name, q)


def test_sweep_every_quantity_through_the_driver():
    for name, make, _, first, each, _ in SPECS:
        clock = VirtualClock()
        emu, drv = make(clock)
        first(drv, clock)
        for q, (lo, hi, res) in emu.QUANTITIES.items():
            for v in _points(lo, hi):
                emu.set(**{q: v})
                each(drv, clock)
                got = drv.read()[q]
                assert abs(got - v) <= res * 1.0001, "%s %s: set %r, read %r" % (name, q, v, got)


def _healthy_read(name, emu, drv, clock, each):
    q = sorted(emu.QUANTITIES)[0]
    lo, hi, res = emu.QUANTITIES[q]
    v = (lo + hi) / 2
    emu.set(**{q: v})
    each(drv, clock)
    assert abs(drv.read()[q] - v) <= res * 1.0001, name
    return q, v, res


def test_every_fault_mode_is_typed_or_recovered():
    for name, make, bus, first, each, asleep_raises in SPECS:
        for mode in make(VirtualClock())[0].FAULTS:
            clock = VirtualClock()
            emu, drv = make(clock)
            first(drv, clock)
            q, v, res = _healthy_read(name, emu, drv, clock, each)
            emu.fault(mode)
            each(drv, clock)
            if mode == "checksum":
                with raises(ChecksumError):
                    drv.read()
            elif mode == "nack":
                with raises(NotPresent if bus == "i2c" else SensorTimeout):
                    drv.read()
            elif mode == "asleep":
                with raises(asleep_raises):
                    drv.read()
                _wake(drv, clock)  # documented recovery: wake() and its warm-up
            elif mode == "stuck":
                lo, hi, _ = emu.QUANTITIES[q]
                emu.set(**{q: lo})  # ignored while stuck: the old value comes back
                assert abs(drv.read()[q] - v) <= res * 1.0001, (name, mode)
            elif mode == "no_echo":  # a ranging sensor that hears nothing: never a value
                with raises(InvalidValue):
                    drv.read()
            elif mode == "no_fix":  # a receiver without a fix: never a (stale) position
                with raises(NoFix):
                    drv.read()
            elif mode == "garbage":
                assert abs(drv.read()[q] - v) <= res * 1.0001, (name, mode)  # resynchronised
            else:
                raise AssertionError("untested fault mode %s of %s" % (mode, name))
            if mode != "asleep":
                emu.fault(None)
            _healthy_read(name, emu, drv, clock, each)


def test_unknown_fault_mode_is_refused():
    for _name, make, _, _, _, _ in SPECS:
        emu, _ = make(VirtualClock())
        with raises(ValueError):
            emu.fault("smoke")
        with raises(KeyError):
            emu.set(no_such_quantity=1.0)


def test_absent_i2c_sensor_is_a_sensor_error_not_a_crash():
    for name, make, bus, _, _, _ in SPECS:
        if bus != "i2c":
            continue
        clock = VirtualClock()
        i2c = VirtualI2C()
        try:
            drv = make(clock)[1].__class__(i2c, clock=clock)
            drv.read()
        except SensorError:
            continue
        raise AssertionError("%s read from an empty bus" % name)


def test_counter_sweep():
    for n in (0, 1, 9, 250):
        clock = VirtualClock()
        guard = IrqGuard()
        pin = VirtualPin(irq_guard=guard)
        pc = PulseCounter(pin, clock=clock, irq_guard=guard)
        for _ in range(n):
            pin.pulse(clock)
        assert pc.read() == {"count_in": float(n)}
    for n_in, n_out in ((0, 0), (1, 0), (0, 1), (40, 25)):
        clock = VirtualClock()
        guard = IrqGuard()
        a = VirtualPin(irq_guard=guard)
        b = VirtualPin(irq_guard=guard)
        bc = BeamCounter(a, b, irq_guard=guard)
        for i in range(max(n_in, n_out)):
            if i < n_in:
                walk(a, b, clock, PASSAGE_IN, 30)
            if i < n_out:
                walk(a, b, clock, PASSAGE_OUT, 30)
        assert bc.read() == {"count_in": float(n_in), "count_out": float(n_out)}
