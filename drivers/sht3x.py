# Sensirion SHT3x (SHT30/31/35) temperature and humidity over I2C, single-shot mode.
# Facts: SHT3x datasheet (v7, 2022) Table 4 durations, §4.3 single-shot commands, §4.9-4.11
# reset/heater/status, §4.13 conversions.
from micropython import const

from drivers.sensirion import SensirionI2C

ADDRESS = const(0x44)  # ADDR pin low; 0x45 with ADDR high (§3.6)

# Single shot, clock stretching disabled (§4.3, Table 9) -> max duration in ms rounded up (Table 4)
_MEASURE = {"high": (0x2400, 16), "medium": (0x240B, 7), "low": (0x2416, 5)}
_SOFT_RESET = const(0x30A2)  # §4.9, 1.5 ms max
_HEATER_ON = const(0x306D)  # §4.10
_HEATER_OFF = const(0x3066)
_READ_STATUS = const(0xF32D)  # §4.11
_CLEAR_STATUS = const(0x3041)
_STATUS_HEATER = const(0x2000)  # status bit 13: heater on


class SHT3x:
    """SHT3x(i2c, address=0x44, repeatability="high", clock=None). No bus traffic in the constructor."""

    WARMUP_MS = 0  # ready 1.5 ms after power-up (Table 4); idle between single shots

    def __init__(self, i2c, address=ADDRESS, repeatability="high", clock=None):
        if repeatability not in _MEASURE:
            raise ValueError("repeatability is high, medium or low")
        self._bus = SensirionI2C(i2c, address, 2, clock, "SHT3x")
        self._cmd, self._wait_ms = _MEASURE[repeatability]

    def read(self):
        """One single-shot measurement: {'temperature': °C, 'humidity': %RH}."""
        bus = self._bus
        bus.command(self._cmd, 2, None, self._wait_ms)
        bus.read_words(2)
        t = -45.0 + 175.0 * bus.word(0) / 65535.0
        rh = 100.0 * bus.word(1) / 65535.0
        return {"temperature": t, "humidity": rh}

    def heater(self, on):
        """Switch the internal heater (a few °C, for plausibility checks and drying)."""
        self._bus.command(_HEATER_ON if on else _HEATER_OFF, 2, None, 1)

    def status(self):
        self._bus.command(_READ_STATUS, 2, None, 1)
        self._bus.read_words(1)
        return self._bus.word(0)

    def heater_on(self):
        return bool(self.status() & _STATUS_HEATER)

    def clear_status(self):
        self._bus.command(_CLEAR_STATUS, 2, None, 1)

    def reset(self):
        self._bus.command(_SOFT_RESET, 2, None, 2)

    def sleep(self):
        """Single-shot mode: the chip idles by itself after each measurement."""

    def wake(self):
        """Nothing to send: see sleep()."""
