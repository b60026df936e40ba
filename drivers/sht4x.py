# Sensirion SHT4x (SHT40/41/45) temperature and humidity over I2C.
# Facts: SHT4x datasheet (v6.6, 2024) §4.5 command table and max durations, §4.6 conversions.
from micropython import const

from drivers.sensirion import SensirionI2C

ADDRESS = const(0x44)  # §4.1; SHT40-B has 0x45, SHT40-C 0x46

# command -> max measurement duration in ms, rounded up (§4.5, Table 7)
_MEASURE_HIGH = const(0xFD)  # 8.3 ms
_MEASURE_MEDIUM = const(0xF6)  # 4.5 ms
_MEASURE_LOW = const(0xE0)  # 1.6 ms
_READ_SERIAL = const(0x89)
_SOFT_RESET = const(0x94)  # 1 ms
_MEASURE = {"high": (_MEASURE_HIGH, 9), "medium": (_MEASURE_MEDIUM, 5), "low": (_MEASURE_LOW, 2)}

# Heater: (power mW, long pulse) -> command; a pulse of 1 s (long) or 0.1 s ends with a
# high-precision measurement, max 1.1 s or 0.11 s (§4.9, Table 7).
_HEATER = {
    (200, True): 0x39,
    (200, False): 0x32,
    (110, True): 0x2F,
    (110, False): 0x24,
    (20, True): 0x1E,
    (20, False): 0x15,
}


class SHT4x:
    """SHT4x(i2c, address=0x44, precision="high", clock=None). No bus traffic in the constructor."""

    WARMUP_MS = 0  # ready 1 ms after power-up (§3.1); idles on its own between measurements

    def __init__(self, i2c, address=ADDRESS, precision="high", clock=None):
        if precision not in _MEASURE:
            raise ValueError("precision is high, medium or low")
        self._bus = SensirionI2C(i2c, address, 2, clock, "SHT4x")
        self._cmd, self._wait_ms = _MEASURE[precision]

    def read(self):
        """One single-shot measurement: {'temperature': °C, 'humidity': %RH}."""
        self._bus.command(self._cmd, 1, None, self._wait_ms)
        return self._result()

    def heat(self, power_mw=200, long=True):
        """Run the heater (to drive off condensation or creep), then measure; returns read()'s dict.

        The heater is for short pulses only: keep the duty cycle under 10 % (§4.9).
        """
        cmd = _HEATER.get((power_mw, bool(long)))
        if cmd is None:
            raise ValueError("heater power is 200, 110 or 20 mW")
        self._bus.command(cmd, 1, None, 1100 if long else 110)
        return self._result()

    def serial_number(self):
        self._bus.command(_READ_SERIAL, 1, None, 1)
        self._bus.read_words(2)
        return (self._bus.word(0) << 16) | self._bus.word(1)

    def reset(self):
        self._bus.command(_SOFT_RESET, 1, None, 1)

    def sleep(self):
        """The SHT4x sleeps by itself between measurements; nothing to send."""

    def wake(self):
        """Nothing to send: see sleep()."""

    def _result(self):
        bus = self._bus
        bus.read_words(2)
        t = -45.0 + 175.0 * bus.word(0) / 65535.0
        rh = -6.0 + 125.0 * bus.word(1) / 65535.0
        # §4.6: RH outside 0..100 is a physical impossibility of the linear fit: clip it.
        rh = 0.0 if rh < 0.0 else (100.0 if rh > 100.0 else rh)
        return {"temperature": t, "humidity": rh}
