# MaxBotix HRXL-MaxSonar-WR (MB7389 class) ultrasonic rangefinder, serial output (9600 8N1, pin 5).
# Facts: HRXL-MaxSonar-WR datasheet, "Pin 5 serial output": an ASCII "R", four digits of the range
# in mm, then a carriage return (13); range 300-5000 mm, targets closer than 300 mm read 300 and
# no target reads 5000. The format has no checksum: a frame is accepted only when every byte fits.
from micropython import const

from drivers.ranging import GOT_FRAME, UARTRanger

_R = const(0x52)
_CR = const(0x0D)
_ZERO = const(0x30)


class MaxBotix(UARTRanger):
    """MaxBotix(uart, clock=None, timeout_ms=1000): read() takes the next range the sensor sends.

    300 mm (target inside the minimum range: true distance unknown) and 5000 mm (no target) raise
    InvalidValue. No bus traffic in the constructor; the sensor free-runs while powered."""

    NAME = "MaxBotix"
    FRAME_LEN = 6
    MIN_MM = 300
    MAX_MM = 5000
    LIMITS_INVALID = True

    def __init__(self, uart, clock=None, timeout_ms=1000):
        super().__init__(uart, clock, timeout_ms)

    def take_byte(self, byte):
        """FrameReader protocol: R, four digits, CR; any other byte restarts the search."""
        n = self._n
        if byte == _R:
            self._n = 1
            return 0
        if n == 0:
            return 0
        if n < 5:
            if _ZERO <= byte <= _ZERO + 9:
                self._frame[n] = byte
                self._n = n + 1
            else:
                self._n = 0
            return 0
        self._n = 0
        return GOT_FRAME if byte == _CR else 0

    def mm(self):
        f = self._frame
        mm = 0
        for i in range(1, 5):
            mm = mm * 10 + f[i] - _ZERO
        return mm
