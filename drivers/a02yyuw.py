# DFRobot A02YYUW waterproof ultrasonic distance sensor over UART (9600 8N1), SEN0311.
# Facts: DFRobot SEN0311 wiki: a 4-byte frame 0xFF, Data_H, Data_L, SUM with
# SUM = (0xFF + Data_H + Data_L) & 0xFF, distance = Data_H * 256 + Data_L in mm; range 30-4500 mm;
# with RX left high the module sends a processed value about every 100 ms by itself.
from micropython import const

from drivers.ranging import GOT_FRAME, UARTRanger

_HEAD = const(0xFF)


class A02YYUW(UARTRanger):
    """A02YYUW(uart, clock=None, timeout_ms=500): read() takes the next frame the sensor sends.

    A distance outside the datasheet's 30-4500 mm (no echo, or a target in the blind zone) raises
    InvalidValue: never a wrong value. No bus traffic in the constructor; no commands."""

    NAME = "A02YYUW"
    FRAME_LEN = 4
    MIN_MM = 30
    MAX_MM = 4500

    def take_byte(self, byte):
        """FrameReader protocol: one received byte; GOT_FRAME when a frame with a good sum is complete."""
        f = self._frame
        n = self._n
        if n == 0 and byte != _HEAD:
            return 0
        f[n] = byte
        n += 1
        if n < 4:
            self._n = n
            return 0
        self._n = 0
        if (f[0] + f[1] + f[2]) & 0xFF == f[3]:
            return GOT_FRAME
        self._reader.bad += 1
        for i in range(1, 4):  # a real frame may start inside the rejected one
            self.take_byte(f[i])
        return 0

    def mm(self):
        return (self._frame[1] << 8) | self._frame[2]
