# PCB Artists I2C decibel meter (sound level sensor module) over I2C.
# Facts: PCB Artists "I2C Decibel Meter Programming Manual" register map: address 0x48;
# 0x00 VERSION, 0x01-0x04 unique id, 0x05 SCRATCH, 0x06 CONTROL (bits 2:1 weighting
# 00 Z / 01 A / 10 C, bit 0 power down; default 0x02), 0x07/0x08 TAVG high/low (averaging time in
# ms, default 1000), 0x09 RESET (bit 1 clears min/max, bit 3 system reset), 0x0A DECIBEL,
# 0x0B MIN, 0x0C MAX (whole dB; 0 = not calculated yet). Ready 5 ms after power-up; the level
# settles about 1 s after power-up.
from micropython import const

from drivers.errors import NotPresent, NotReady, bus_error
from drivers.warmup import Warmup
from edge.clock import SystemClock

ADDRESS = const(0x48)
_REG_VERSION = const(0x00)
_REG_ID = const(0x01)
_REG_CONTROL = const(0x06)
_REG_TAVG_HIGH = const(0x07)
_REG_TAVG_LOW = const(0x08)
_REG_RESET = const(0x09)
_REG_DECIBEL = const(0x0A)
_REG_MIN = const(0x0B)
_REG_MAX = const(0x0C)
_POWER_DOWN = const(0x01)
_CLEAR_MINMAX = const(0x02)
_SYSTEM_RESET = const(0x08)
_BOOT_MS = const(5)
_WEIGHTING = {"Z": 0, "A": 1, "C": 2}


class DecibelMeter:
    """DecibelMeter(i2c, address=0x48, weighting="A", averaging_ms=1000, clock=None).

    The first read() configures weighting and averaging time. Each read() returns the level of
    the last averaging window as 'laeq' and the minimum/maximum since the previous read() as
    'lamin'/'lamax' (it clears min/max afterwards). Values are dB(A) only with weighting "A".
    A register the module has not calculated yet (0) is left out; no level at all is NotReady.
    """

    WARMUP_MS = 1000

    def __init__(self, i2c, address=ADDRESS, weighting="A", averaging_ms=1000, clock=None):
        if weighting not in _WEIGHTING:
            raise ValueError("weighting is A, C or Z")
        if not 10 <= averaging_ms <= 0xFFFF:
            raise ValueError("averaging time is 10..65535 ms")
        self._i2c = i2c
        self._addr = address
        self._clock = clock if clock is not None else SystemClock()
        self._control = _WEIGHTING[weighting] << 1
        self._tavg = averaging_ms
        self._configured = False
        self._warmup = Warmup(self._clock, self.WARMUP_MS)
        self._asleep = False
        self._one = bytearray(1)

    def _get(self, reg):
        try:
            self._i2c.readfrom_mem_into(self._addr, reg, self._one)
        except OSError as e:
            raise bus_error(e, "decibel meter") from None
        return self._one[0]

    def _put(self, reg, value):
        self._one[0] = value
        try:
            self._i2c.writeto_mem(self._addr, reg, self._one)
        except OSError as e:
            raise bus_error(e, "decibel meter") from None

    def configure(self):
        self._put(_REG_CONTROL, self._control)
        self._put(_REG_TAVG_HIGH, self._tavg >> 8)
        self._put(_REG_TAVG_LOW, self._tavg & 0xFF)
        self._configured = True

    def ready_in_ms(self):
        """Milliseconds until readings are valid after wake(); 0 when ready."""
        return self._warmup.left_ms()

    def read(self):
        if self._asleep:
            raise NotReady("decibel meter: powered down, call wake()")
        self._warmup.require_ready("decibel meter")
        if not self._configured:
            self.configure()
        level = self._get(_REG_DECIBEL)
        if level == 0:
            raise NotReady("decibel meter: no level calculated yet")
        out = {"laeq": float(level)}
        lo = self._get(_REG_MIN)
        hi = self._get(_REG_MAX)
        if lo:
            out["lamin"] = float(lo)
        if hi:
            out["lamax"] = float(hi)
        self._put(_REG_RESET, _CLEAR_MINMAX)
        return out

    def version(self):
        """VERSION register: high nibble hardware, low nibble firmware."""
        v = self._get(_REG_VERSION)
        if v in (0x00, 0xFF):
            raise NotPresent("decibel meter: VERSION reads 0x%02x" % v)
        return v

    def unique_id(self):
        uid = 0
        for i in range(4):
            uid = (uid << 8) | self._get(_REG_ID + i)
        return uid

    def sleep(self):
        """Power the microphone and DSP down (CONTROL bit 0)."""
        self._put(_REG_CONTROL, self._control | _POWER_DOWN)
        self._asleep = True

    def wake(self):
        """Leave power-down by a system reset, then configure again; WARMUP_MS to settle."""
        self._put(_REG_RESET, _SYSTEM_RESET)
        self._clock.sleep_ms(_BOOT_MS)
        self._asleep = False
        self.configure()
        self._warmup.begin()
