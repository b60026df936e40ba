# Vishay VEML7700 ambient light sensor over I2C (16-bit registers, little-endian).
# Facts: VEML7700 datasheet (doc 84286) register map: 0x00 ALS_CONF_0 with ALS_GAIN bits 12:11
# (00 x1, 01 x2, 10 x1/8, 11 x1/4), ALS_IT bits 9:6 (1100 25 ms, 1000 50 ms, 0000 100 ms,
# 0001 200 ms, 0010 400 ms, 0011 800 ms), ALS_SD bit 0 (1 = shut down); 0x04 ALS output.
# Application note 84323 "Designing the VEML7700 into an application": resolution 0.0036 lx/count
# at gain x2 and 800 ms, doubling with each halving of gain or integration time; above 1000 lx the
# response is non-linear and is corrected by
#   lux = 6.0135e-13 x^4 - 9.3924e-9 x^3 + 8.1488e-5 x^2 + 1.0023 x   (x = count * resolution).
# That formula is 1075 lx at x = 1000: readings jump by 75 lx across the threshold.
from micropython import const

from drivers.errors import InvalidValue, bus_error
from edge.clock import SystemClock

ADDRESS = const(0x10)
_ALS_CONF = const(0x00)
_ALS = const(0x04)
_SHUTDOWN = const(0x0001)
_BEST_RES = 0.0036  # lx/count at gain x2, 800 ms
_GAIN_BITS = {2: 0b01, 1: 0b00, 0.25: 0b11, 0.125: 0b10}
_IT_BITS = {25: 0b1100, 50: 0b1000, 100: 0b0000, 200: 0b0001, 400: 0b0010, 800: 0b0011}


def correct(x):
    """The application note's non-linearity correction of x lx (applied above 1000 lx)."""
    return (((6.0135e-13 * x - 9.3924e-9) * x + 8.1488e-5) * x + 1.0023) * x


class VEML7700:
    """VEML7700(i2c, address=0x10, gain=0.125, integration_ms=100, clock=None).

    The defaults reach direct sunlight (about 120 klx) at 0.46 lx/count. The chip measures
    continuously while powered: the first read() after construction or wake() powers it up and
    waits one integration time (+10 %, this driver's margin); later reads return at once.
    No bus traffic in the constructor. A saturated count (0xFFFF) raises InvalidValue."""

    WARMUP_MS = 0

    def __init__(self, i2c, address=ADDRESS, gain=0.125, integration_ms=100, clock=None):
        if gain not in _GAIN_BITS:
            raise ValueError("gain is 2, 1, 0.25 or 0.125")
        if integration_ms not in _IT_BITS:
            raise ValueError("integration_ms is 25, 50, 100, 200, 400 or 800")
        self._i2c = i2c
        self._address = address
        self._clock = clock if clock is not None else SystemClock()
        self._conf = (_GAIN_BITS[gain] << 11) | (_IT_BITS[integration_ms] << 6)
        self._wait_ms = integration_ms + integration_ms // 10
        self.resolution = _BEST_RES * (2 / gain) * (800 / integration_ms)
        self._tx = bytearray(3)
        self._reg = bytearray(1)
        self._rx = bytearray(2)
        self._on = False

    def _write(self, reg, value):
        tx = self._tx
        tx[0] = reg
        tx[1] = value & 0xFF
        tx[2] = value >> 8
        try:
            self._i2c.writeto(self._address, tx)
        except OSError as e:
            raise bus_error(e, "VEML7700") from None

    def _read(self, reg):
        self._reg[0] = reg
        try:
            self._i2c.writeto(self._address, self._reg, False)
            self._i2c.readfrom_into(self._address, self._rx)
        except OSError as e:
            raise bus_error(e, "VEML7700") from None
        return self._rx[0] | (self._rx[1] << 8)

    def read(self):
        """{'illuminance': lx}, corrected above 1000 lx."""
        if not self._on:
            self.wake()
            self._clock.sleep_ms(self._wait_ms)
        count = self._read(_ALS)
        if count == 0xFFFF:
            raise InvalidValue("VEML7700: saturated, use a lower gain or a shorter integration time")
        lux = count * self.resolution
        if lux > 1000.0:
            lux = correct(lux)
        return {"illuminance": lux}

    def sleep(self):
        self._write(_ALS_CONF, self._conf | _SHUTDOWN)
        self._on = False

    def wake(self):
        """Power up with the configured gain and integration time."""
        self._write(_ALS_CONF, self._conf)
        self._on = True
