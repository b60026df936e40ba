# Register-level emulator of the ROHM BH1750FVI: opcodes, one-time measurements that take their
# datasheet time and power the chip down, the big-endian count. Facts as in drivers/bh1750.py.
from simulator.devices.base import I2CEmulator

# opcode -> (typical measurement ms, counts per lx); continuous modes 0x10/0x11/0x13 measure too
_MEASURE = {0x20: (120, 1.2), 0x21: (120, 2.4), 0x23: (16, 1.2), 0x10: (120, 1.2), 0x11: (120, 2.4), 0x13: (16, 1.2)}


class BH1750Emulator(I2CEmulator):
    ADDRESS = 0x23
    QUANTITIES = {"illuminance": (0.0, 54612.0, 1 / 1.2)}
    FAULTS = ("nack", "stuck")

    def __init__(self, clock=None):
        super().__init__(clock)
        self.set(illuminance=100.0)
        self.asleep = True  # power-down state after power-on reset (datasheet p.5)
        self._count = 0
        self._pending = None  # (ready at, count) of the measurement under way

    def on_write(self, data):
        if not data:
            return
        op = data[0]
        self.log(op)
        if op == 0x01:
            self.asleep = False
        elif op == 0x00:
            self.asleep = True
        elif op in _MEASURE and not self.asleep:
            ms, per_lx = _MEASURE[op]
            count = min(int(round(self.values["illuminance"] * per_lx)), 0xFFFF)
            self._pending = (self.clock.ticks_add(self.now(), ms), count)
            if op & 0xF0 == 0x20:
                self.asleep = True  # one-time modes power down after measuring

    def on_read(self, n):
        p = self._pending
        if p is not None and self.clock.ticks_diff(self.now(), p[0]) >= 0:
            self._count = p[1]
            self._pending = None
        return bytes(((self._count >> 8) & 0xFF, self._count & 0xFF))[:n]
