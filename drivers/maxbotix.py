# MaxBotix HRXL-MaxSonar-WR (MB7389 class) ultrasonic rangefinder, serial output (9600 8N1, pin 5).
# Facts: HRXL-MaxSonar-WR datasheet, "Pin 5 serial output": an ASCII "R", four digits of the range
# in mm, then a carriage return (13); range 300-5000 mm, targets closer than 300 mm read 300 and
# no target reads 5000. The format has no checksum: a frame is accepted only when every byte fits.
from micropython import const

from drivers.errors import InvalidValue
from drivers.uart_frames import FrameReader
from edge.clock import SystemClock

_R = const(0x52)
_CR = const(0x0D)
_ZERO = const(0x30)
_FRAME_LEN = const(6)
_GOT = const(1)
MIN_MM = const(300)
MAX_MM = const(5000)


class MaxBotix:
    """MaxBotix(uart, clock=None, timeout_ms=1000): read() takes the next range the sensor sends.

    300 mm (target inside the minimum range: true distance unknown) and 5000 mm (no target) raise
    InvalidValue. No bus traffic in the constructor; sleep()/wake() send nothing (the sensor
    free-runs while powered)."""

    WARMUP_MS = 0

    def __init__(self, uart, clock=None, timeout_ms=1000):
        self._clock = clock if clock is not None else SystemClock()
        self._timeout_ms = timeout_ms
        self._frame = bytearray(_FRAME_LEN)
        self._n = 0
        self._reader = FrameReader(uart, self._clock, "MaxBotix", self, 16)

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
        return _GOT if byte == _CR else 0

    def reset_frame(self):
        self._n = 0

    def read(self):
        """{'distance': metres} from the next complete frame after this call."""
        self._reader.drain()
        self._reader.wait(_GOT, self._frame, 0, None, self._timeout_ms)
        f = self._frame
        mm = 0
        for i in range(1, 5):
            mm = mm * 10 + f[i] - _ZERO
        if mm <= MIN_MM or mm >= MAX_MM:
            raise InvalidValue("MaxBotix: %d mm is the range limit (no target or too close)" % mm)
        return {"distance": mm / 1000.0}

    def sleep(self):
        """Nothing to send: the sensor free-runs while powered."""

    def wake(self):
        """Nothing to send: see sleep()."""
