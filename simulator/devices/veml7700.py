# Register-level emulator of the Vishay VEML7700: ALS_CONF (gain, integration time, shutdown),
# the ALS count after one integration time, and the chip's non-linear response above 1000 lx
# (the inverse of the application note's correction, so a correct driver reads the true value,
# except between 1000 lx and correct(1000) = 1075.6 lx, which no count reads back as: raw 1000 there).
# Facts as in drivers/veml7700.py.
from drivers.veml7700 import correct
from simulator.devices.base import I2CEmulator

_GAIN = {0b01: 2.0, 0b00: 1.0, 0b11: 0.25, 0b10: 0.125}
_IT_MS = {0b1100: 25, 0b1000: 50, 0b0000: 100, 0b0001: 200, 0b0010: 400, 0b0011: 800}


def raw_lux(lux):
    """What the chip's linear scale reads for a true lux (bisection on the correction)."""
    if lux <= 1000.0:
        return lux
    lo, hi = 1000.0, 40000.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if correct(mid) < lux:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class VEML7700Emulator(I2CEmulator):
    ADDRESS = 0x10
    # at 120 klx one count is about 9 lx after the correction (0.46 lx/count x slope 19)
    QUANTITIES = {"illuminance": (0.0, 120000.0, 10.0)}
    FAULTS = ("nack", "stuck")

    def __init__(self, clock=None):
        super().__init__(clock)
        self.set(illuminance=300.0)
        self.conf = 0x0001  # shut down until the host configures it
        self._pointer = 0
        self._since = self.now()

    def _it_ms(self):
        return _IT_MS.get((self.conf >> 6) & 0xF, 100)

    def count(self):
        if self.conf & 1 or self.since(self._since) < self._it_ms():
            return 0  # shut down, or the first integration is not over
        gain = _GAIN[(self.conf >> 11) & 3]
        res = 0.0036 * (2 / gain) * (800 / self._it_ms())
        return min(int(round(raw_lux(self.values["illuminance"]) / res)), 0xFFFF)

    def on_write(self, data):
        if not data:
            return
        self._pointer = data[0]
        if len(data) >= 3 and data[0] == 0:
            self.log(0)
            self.conf = data[1] | (data[2] << 8)
            self.asleep = bool(self.conf & 1)
            self._since = self.now()

    def on_read(self, n):
        if self._pointer == 0:
            v = self.conf
        elif self._pointer == 4:
            v = self.count()
        else:
            v = 0
        return bytes((v & 0xFF, v >> 8))[:n]
