# RAM each driver allocates at construction and per read(), measured on the MicroPython VM:
#   node tests/mpvm/run.mjs script bench/driver_ram.py
# gc.collect(); gc.mem_alloc() before and after. The emulators share the heap, so each read is
# first run against the emulator while the bus records every answer, then measured against a
# replay of those answers from preallocated buffers: the figure is the driver's own allocation.
import gc

from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C


class ReplayI2C:
    """Records the answers of a real (virtual) bus, then replays them without allocating."""

    def __init__(self, bus):
        self.bus = bus
        self.answers = []
        self.replay = False
        self.i = 0

    def _next(self):
        data = self.answers[self.i]
        self.i += 1
        if isinstance(data, OSError):
            raise data
        return data

    def writeto(self, addr, buf, stop=True):
        if self.replay:
            return self._next()
        try:
            self.bus.writeto(addr, buf)
            self.answers.append(len(buf))
        except OSError as e:
            self.answers.append(e)
            raise
        return len(buf)

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        if self.replay:
            return self._next()
        self.bus.writeto_mem(addr, reg, buf)
        self.answers.append(None)

    def readfrom_into(self, addr, buf, stop=True):
        if self.replay:
            data = self._next()
        else:
            data = self.bus.readfrom(addr, len(buf))
            self.answers.append(data)
        for i in range(len(buf)):
            buf[i] = data[i]

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        if self.replay:
            data = self._next()
        else:
            data = self.bus.readfrom_mem(addr, reg, len(buf))
            self.answers.append(data)
        for i in range(len(buf)):
            buf[i] = data[i]


class ReplayUART:
    def __init__(self, uart):
        self.uart = uart
        self.answers = []
        self.replay = False
        self.i = 0

    def _next(self):
        v = self.answers[self.i]
        self.i += 1
        return v

    def any(self):
        if self.replay:
            return self._next()
        n = self.uart.any()
        self.answers.append(n)
        return n

    def readinto(self, buf, n=None):
        if self.replay:
            data = self._next()
        else:
            data = self.uart.read(len(buf) if n is None else n) or b""
            self.answers.append(data)
        for i in range(len(data)):
            buf[i] = data[i]
        return len(data)

    def write(self, buf):
        if not self.replay:
            self.uart.write(buf)
        return len(buf)


def measure(name, make_bus, make_driver, prepare=None):
    clock = VirtualClock()
    bus = make_bus(clock)
    gc.collect()
    before = gc.mem_alloc()
    drv = make_driver(bus, clock)
    after = gc.mem_alloc()
    construction = after - before
    if prepare:
        prepare(drv, clock)
    drv.read()  # first read: lazily made views and reply buffers
    bus.answers = []
    bus.replay = False
    drv.read()  # recorded
    bus.replay = True
    bus.i = 0
    gc.collect()
    before = gc.mem_alloc()
    drv.read()  # replayed: only the driver allocates
    per_read = gc.mem_alloc() - before
    print("| %s | %d | %d |" % (name, construction, per_read))
    return per_read


def i2c_with(emu_cls):
    def make(clock):
        bus = VirtualI2C()
        bus.attach(emu_cls(clock=clock))
        return ReplayI2C(bus)

    return make


def uart_with(emu_cls):
    def make(clock):
        return ReplayUART(emu_cls(clock=clock))

    return make


def main():
    from drivers.a02yyuw import A02YYUW
    from drivers.bh1750 import BH1750
    from drivers.bme280 import BME280
    from drivers.counter import BeamCounter, PulseCounter
    from drivers.dnms import DNMS
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
    from simulator.devices.a02yyuw import A02YYUWEmulator
    from simulator.devices.bh1750 import BH1750Emulator
    from simulator.devices.bme280 import BME280Emulator
    from simulator.devices.dnms import DNMSEmulator
    from simulator.devices.gnss import GNSSEmulator
    from simulator.devices.maxbotix import MaxBotixEmulator
    from simulator.devices.pcb_db import DecibelMeterEmulator
    from simulator.devices.pins import IrqGuard, VirtualPin
    from simulator.devices.pms5003 import PMS5003Emulator
    from simulator.devices.sds011 import SDS011Emulator
    from simulator.devices.sht3x import SHT3xEmulator
    from simulator.devices.sht4x import SHT4xEmulator
    from simulator.devices.sps30 import SPS30Emulator
    from simulator.devices.veml7700 import VEML7700Emulator
    from simulator.devices.vl53l1x import VL53L1XEmulator

    def wake(drv, clock):
        drv.wake()
        clock.advance(drv.WARMUP_MS)

    def window(drv, clock):
        clock.advance(1000)

    print("| driver | construction (bytes) | per read() (bytes) |")
    print("|---|---|---|")
    measure("SDS011", uart_with(SDS011Emulator), lambda b, c: SDS011(b, clock=c))
    measure("PMS5003", uart_with(PMS5003Emulator), lambda b, c: PMS5003(b, clock=c))
    measure("SPS30", i2c_with(SPS30Emulator), lambda b, c: SPS30(b, clock=c), wake)
    measure("SHT3x", i2c_with(SHT3xEmulator), lambda b, c: SHT3x(b, clock=c))
    measure("SHT4x", i2c_with(SHT4xEmulator), lambda b, c: SHT4x(b, clock=c))
    measure("BME280", i2c_with(BME280Emulator), lambda b, c: BME280(b, clock=c))
    measure("DNMS", i2c_with(DNMSEmulator), lambda b, c: DNMS(b, clock=c))
    measure("DecibelMeter", i2c_with(DecibelMeterEmulator), lambda b, c: DecibelMeter(b, clock=c), window)
    measure("A02YYUW", uart_with(A02YYUWEmulator), lambda b, c: A02YYUW(b, clock=c))
    measure("MaxBotix", uart_with(MaxBotixEmulator), lambda b, c: MaxBotix(b, clock=c))
    measure("VL53L1X", i2c_with(VL53L1XEmulator), lambda b, c: VL53L1X(b, clock=c))
    measure("VEML7700", i2c_with(VEML7700Emulator), lambda b, c: VEML7700(b, clock=c))
    measure("BH1750", i2c_with(BH1750Emulator), lambda b, c: BH1750(b, clock=c))
    measure("GNSS", uart_with(GNSSEmulator), lambda b, c: GNSS(b, clock=c))

    for name, make in (
        ("PulseCounter", lambda pins, c, g: PulseCounter(pins[0], clock=c, irq_guard=g)),
        ("BeamCounter", lambda pins, c, g: BeamCounter(pins[0], pins[1], irq_guard=g)),
    ):
        clock = VirtualClock()
        guard = IrqGuard()
        pins = (VirtualPin(irq_guard=guard), VirtualPin(irq_guard=guard))
        gc.collect()
        before = gc.mem_alloc()
        drv = make(pins, clock, guard)
        construction = gc.mem_alloc() - before
        drv.read()
        gc.collect()
        before = gc.mem_alloc()
        for _ in range(50):  # 50 passages/pulses: edges through the interrupt handler
            pins[0].drive(1)
            pins[1].drive(1)
            clock.advance(30)
            pins[0].drive(0)
            pins[1].drive(0)
            clock.advance(30)
        handler = gc.mem_alloc() - before
        gc.collect()
        before = gc.mem_alloc()
        drv.read()
        per_read = gc.mem_alloc() - before
        print("| %s | %d | %d (200 edges in the handler: %d) |" % (name, construction, per_read, handler))


main()
