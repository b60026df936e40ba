# DFRobot A02YYUW waterproof ultrasonic distance sensor over UART (9600 8N1), SEN0311.
# Facts: DFRobot SEN0311 wiki: a 4-byte frame 0xFF, Data_H, Data_L, SUM with
# SUM = (0xFF + Data_H + Data_L) & 0xFF, distance = Data_H * 256 + Data_L in mm; range 30-4500 mm;
# with RX left high the module sends a processed value about every 100 ms by itself.
from micropython import const

from drivers.errors import InvalidValue
from drivers.uart_frames import FrameReader
from edge.clock import SystemClock

_HEAD = const(0xFF)
_FRAME_LEN = const(4)
_GOT = const(1)
MIN_MM = const(30)
MAX_MM = const(4500)


class A02YYUW:
    """A02YYUW(uart, clock=None, timeout_ms=500): read() takes the next frame the sensor sends.

    A distance outside the datasheet's 30-4500 mm (no echo, or a target in the blind zone) raises
    InvalidValue: never a wrong value. No bus traffic in the constructor; the module has no
    commands, so sleep()/wake() send nothing (its power is the board's to switch)."""

    WARMUP_MS = 0

    def __init__(self, uart, clock=None, timeout_ms=500):
        self._clock = clock if clock is not None else SystemClock()
        self._timeout_ms = timeout_ms
        self._frame = bytearray(_FRAME_LEN)
        self._n = 0
        self._reader = FrameReader(uart, self._clock, "A02YYUW", self, 16)

    def take_byte(self, byte):
        """FrameReader protocol: one received byte; _GOT when a frame with a good sum is complete."""
        f = self._frame
        n = self._n
        if n == 0 and byte != _HEAD:
            return 0
        f[n] = byte
        n += 1
        if n < _FRAME_LEN:
            self._n = n
            return 0
        self._n = 0
        if (f[0] + f[1] + f[2]) & 0xFF == f[3]:
            return _GOT
        self._reader.bad += 1
        for i in range(1, _FRAME_LEN):  # a real frame may start inside the rejected one
            self.take_byte(f[i])
        return 0

    def reset_frame(self):
        self._n = 0

    def read(self):
        """{'distance': metres} from the next frame after this call."""
        self._reader.drain()
        self._reader.wait(_GOT, self._frame, 0, None, self._timeout_ms)
        f = self._frame
        mm = (f[1] << 8) | f[2]
        if mm < MIN_MM or mm > MAX_MM:
            raise InvalidValue("A02YYUW: %d mm is outside 30-4500 mm (no echo)" % mm)
        return {"distance": mm / 1000.0}

    def sleep(self):
        """Nothing to send: the module has no commands."""

    def wake(self):
        """Nothing to send: see sleep()."""
