# What the two free-running ultrasonic rangers share (A02YYUW, MaxBotix): the sensor sends a range
# frame by itself every ~100-150 ms and takes no commands; read() drops what waited in the receive
# buffer, takes the next complete frame and refuses a range outside the sensor's own limits.
from drivers.errors import InvalidValue
from drivers.uart_frames import FrameReader
from edge.clock import SystemClock

GOT_FRAME = 1  # take_byte() result: a complete, valid frame


class UARTRanger:
    """Subclasses set NAME, FRAME_LEN, MIN_MM, MAX_MM (refused: below/above, or equal when
    LIMITS_INVALID) and implement take_byte(byte) -> GOT_FRAME (FrameReader protocol) and mm()."""

    WARMUP_MS = 0
    NAME = "ranger"
    FRAME_LEN = 4
    MIN_MM = 0
    MAX_MM = 0
    LIMITS_INVALID = False  # the sensor reports its limits for "too close" and "no target"

    def __init__(self, uart, clock=None, timeout_ms=500):
        self._clock = clock if clock is not None else SystemClock()
        self._timeout_ms = timeout_ms
        self._frame = bytearray(self.FRAME_LEN)
        self._n = 0
        self._reader = FrameReader(uart, self._clock, self.NAME, self, 16)

    def reset_frame(self):
        self._n = 0

    def read(self):
        """{'distance': metres} from the next complete frame after this call."""
        self._reader.drain()
        self._reader.wait(GOT_FRAME, self._frame, 0, None, self._timeout_ms)
        mm = self.mm()
        lo = self.MIN_MM
        hi = self.MAX_MM
        if mm < lo or mm > hi or (self.LIMITS_INVALID and (mm == lo or mm == hi)):
            raise InvalidValue("%s: %d mm is outside its range %d-%d mm (no echo)" % (self.NAME, mm, lo, hi))
        return {"distance": mm / 1000.0}

    def sleep(self):
        """Nothing to send: the sensor takes no commands (its power is the board's to switch)."""

    def wake(self):
        """Nothing to send: see sleep()."""
