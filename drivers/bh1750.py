# ROHM BH1750FVI ambient light sensor over I2C.
# Facts: BH1750FVI datasheet (ROHM, 2011.11 Rev.D): opcodes p.5 (power down 0x00, power on 0x01,
# reset 0x07, one-time H-resolution 0x20, H-resolution mode 2 0x21, L-resolution 0x23); one-time
# modes power down by themselves after the measurement; max measurement time 180 ms (H modes) and
# 24 ms (L mode) p.2; lux = count / 1.2 at the default MTreg, / 2 more in H-resolution mode 2 (p.11).
from micropython import const

from drivers.errors import bus_error
from edge.clock import SystemClock

ADDRESS = const(0x23)  # ADDR pin low; 0x5C with ADDR high (datasheet p.10)
_POWER_ON = const(0x01)
_POWER_DOWN = const(0x00)
# mode -> (one-time opcode, max wait ms, divisor of the count)
_MODES = {"high": (0x20, 180, 1.2), "high2": (0x21, 180, 2.4), "low": (0x23, 24, 1.2)}


class BH1750:
    """BH1750(i2c, address=0x23, mode="high", clock=None). No bus traffic in the constructor.

    Each read() is a one-time measurement (1 lx steps in "high", 0.5 lx in "high2", 4 lx in
    "low"); the chip powers itself down afterwards, so sleep()/wake() only matter between reads."""

    WARMUP_MS = 0

    def __init__(self, i2c, address=ADDRESS, mode="high", clock=None):
        if mode not in _MODES:
            raise ValueError("mode is high, high2 or low")
        self._i2c = i2c
        self._address = address
        self._clock = clock if clock is not None else SystemClock()
        self._opcode, self._wait_ms, self._divisor = _MODES[mode]
        self._cmd = bytearray(1)
        self._rx = bytearray(2)

    def _send(self, opcode):
        self._cmd[0] = opcode
        try:
            self._i2c.writeto(self._address, self._cmd)
        except OSError as e:
            raise bus_error(e, "BH1750") from None

    def read(self):
        """{'illuminance': lx} from one measurement."""
        self._send(_POWER_ON)
        self._send(self._opcode)
        self._clock.sleep_ms(self._wait_ms)
        try:
            self._i2c.readfrom_into(self._address, self._rx)
        except OSError as e:
            raise bus_error(e, "BH1750") from None
        return {"illuminance": ((self._rx[0] << 8) | self._rx[1]) / self._divisor}

    def sleep(self):
        self._send(_POWER_DOWN)

    def wake(self):
        self._send(_POWER_ON)
