# The UART side of sensors that stream fixed frames (SDS011, PMS5003/7003): drain stale bytes,
# send a command, feed received bytes to the driver's frame parser until a wanted frame is
# complete or the timeout passes. Parsing and checksums stay in each driver.
from micropython import const

from drivers.errors import ChecksumError, SensorTimeout, bus_error

_POLL_MS = const(20)
_DRAIN_MAX = const(64)  # chunks drained before a command: bounds the time a babbling line costs


class FrameReader:
    """Reads frames for a parser with take_byte(byte) -> kind and reset_frame().

    take_byte returns a frame kind when a valid frame is complete (or 0), and counts a frame
    with a bad checksum by adding 1 to this reader's `bad`. Buffers are allocated once here.
    """

    def __init__(self, uart, clock, name, parser, chunk_size):
        self._uart = uart
        self._clock = clock
        self._name = name
        self._parser = parser
        self._chunk = bytearray(chunk_size)
        self._chunk_mv = memoryview(self._chunk)
        self.bad = 0

    def drain(self):
        """Drop what waits in the receive buffer and any half-assembled frame."""
        uart = self._uart
        try:
            for _ in range(_DRAIN_MAX):
                avail = uart.any()
                if not avail:
                    break
                uart.readinto(self._chunk_mv, min(avail, len(self._chunk)))
        except OSError as e:
            raise bus_error(e, self._name + " UART") from None
        self._parser.reset_frame()

    def send(self, command):
        """Drain, then write a command frame."""
        self.drain()
        try:
            self._uart.write(command)
        except OSError as e:
            raise bus_error(e, self._name + " UART") from None

    def wait(self, want, frame, cmd_at, cmd, timeout_ms):
        """Feed bytes until the parser completes a frame of kind want whose byte cmd_at equals
        cmd (cmd None: any). Raises ChecksumError when only bad frames came, else SensorTimeout."""
        try:
            self._wait(want, frame, cmd_at, cmd, timeout_ms)
        except OSError as e:
            raise bus_error(e, self._name + " UART") from None

    def _wait(self, want, frame, cmd_at, cmd, timeout_ms):
        uart = self._uart
        clock = self._clock
        chunk = self._chunk
        parser = self._parser
        self.bad = 0
        t0 = clock.ticks_ms()
        while True:
            avail = uart.any()
            while avail:
                got = uart.readinto(self._chunk_mv, min(avail, len(chunk))) or 0
                for i in range(got):
                    if parser.take_byte(chunk[i]) == want and (cmd is None or frame[cmd_at] == cmd):
                        parser.reset_frame()
                        return
                avail = uart.any()
            if clock.ticks_diff(clock.ticks_ms(), t0) >= timeout_ms:
                break
            clock.sleep_ms(_POLL_MS)
        if self.bad:
            raise ChecksumError("%s: %d frame(s) with a wrong checksum" % (self._name, self.bad))
        raise SensorTimeout("%s: no frame within %d ms" % (self._name, timeout_ms))
