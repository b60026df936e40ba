# Plantower PMS5003 / PMS7003 particulate matter sensor over UART (9600 8N1).
# Facts: PMS5003 data manual V2.3 (Plantower, 2016) appendix I "transport protocol": 32-byte
# frame 42 4D, frame length 28, 13 big-endian data words, check word = sum of bytes 0..29;
# 7-byte commands 42 4D CMD DATAH DATAL LRCH LRCL (LRC = sum of the first 5 bytes):
# E2 read (passive), E1 mode 0 passive / 1 active, E4 0 sleep / 1 wake; replies to E1 and E4-sleep
# are 8-byte frames of length 4. Appendix: stable data 30 s after wake-up (fan spin-up).
# The PMS7003 uses the same protocol.
from micropython import const

from drivers.errors import NotReady
from drivers.uart_frames import FrameReader
from drivers.warmup import Warmup
from edge.clock import SystemClock

_START1 = const(0x42)
_START2 = const(0x4D)
_CMD_READ = const(0xE2)
_CMD_MODE = const(0xE1)
_CMD_SLEEP = const(0xE4)
_DATA_LEN = const(28)
_REPLY_LEN = const(4)
_MAX_FRAME = const(32)
_ACTIVE_TIMEOUT_MS = const(3000)  # active mode sends every 0.2-0.8 s, or 2.3 s when stable
_REPLY_TIMEOUT_MS = const(1000)

_NONE = const(0)
_GOT_DATA = const(1)
_GOT_REPLY = const(2)


class PMS5003:
    """PMS5003(uart, mode="passive", clock=None); also PMS7003.

    read() returns the atmospheric-environment values (what the platform and air-quality practice call
    ambient PM). After each read, .standard holds the CF=1 values [pm1, pm2_5, pm10] and .counts
    the particle counts per 0.1 L above 0.3, 0.5, 1.0, 2.5, 5 and 10 µm.
    mode "passive": read() requests a frame; "active": read() takes the next frame the sensor
    sends by itself. No bus traffic in the constructor.
    """

    WARMUP_MS = 30000

    def __init__(self, uart, mode="passive", clock=None):
        if mode not in ("passive", "active"):
            raise ValueError("mode is passive or active")
        self._uart = uart
        self._clock = clock if clock is not None else SystemClock()
        self.mode = mode
        self._mode_sent = False
        self._frame = bytearray(_MAX_FRAME)
        self._n = 0
        self._cmd = bytearray(7)
        self._reader = FrameReader(uart, self._clock, "PMS5003", self, 32)
        self._asleep = False
        self._warmup = Warmup(self._clock, self.WARMUP_MS)
        self.standard = [0, 0, 0]
        self.counts = [0, 0, 0, 0, 0, 0]

    def take_byte(self, byte):
        """FrameReader protocol: one received byte; the frame kind when a valid frame is complete."""
        f = self._frame
        n = self._n
        if n == 0 and byte != _START1:
            return _NONE
        if n == 1 and byte != _START2:
            self._n = 1 if byte == _START1 else 0
            return _NONE
        f[n] = byte
        n += 1
        if n == 4:
            length = (f[2] << 8) | f[3]
            if length != _DATA_LEN and length != _REPLY_LEN:
                self._resync(n)
                return _NONE
        if n < 4 or n < 4 + ((f[2] << 8) | f[3]):
            self._n = n
            return _NONE
        self._n = 0
        s = 0
        for i in range(n - 2):
            s += f[i]
        if s & 0xFFFF != (f[n - 2] << 8) | f[n - 1]:
            self._reader.bad += 1
            self._resync(n)
            return _NONE
        return _GOT_DATA if n == 4 + _DATA_LEN else _GOT_REPLY

    def _resync(self, n):
        """Re-scan the rejected bytes after the first (in place: writes trail the reads)."""
        f = self._frame
        self._n = 0
        for i in range(1, n):
            self.take_byte(f[i])

    def reset_frame(self):
        """FrameReader protocol: forget a half-assembled frame."""
        self._n = 0

    def _wait(self, want, cmd, timeout):
        self._reader.wait(want, self._frame, 4, cmd, timeout)
        return self._frame

    def _command(self, cmd, data):
        c = self._cmd
        c[0] = _START1
        c[1] = _START2
        c[2] = cmd
        c[3] = 0
        c[4] = data
        s = _START1 + _START2 + cmd + data
        c[5] = s >> 8
        c[6] = s & 0xFF
        self._reader.send(c)

    def ready_in_ms(self):
        """Milliseconds until readings are valid after wake(); 0 when ready."""
        return self._warmup.left_ms()

    def read(self):
        """{'pm1', 'pm2_5', 'pm10'} in µg/m³, atmospheric environment, from one fresh frame."""
        if self._asleep:
            raise NotReady("PMS5003: asleep, call wake() and wait WARMUP_MS")
        self._warmup.require_ready("PMS5003")
        if not self._mode_sent:
            self.set_mode(self.mode)
        if self.mode == "passive":
            self._command(_CMD_READ, 0)
            f = self._wait(_GOT_DATA, None, _REPLY_TIMEOUT_MS)
        else:
            self._reader.drain()
            f = self._wait(_GOT_DATA, None, _ACTIVE_TIMEOUT_MS)
        std = self.standard
        for i in range(3):
            std[i] = (f[4 + 2 * i] << 8) | f[5 + 2 * i]
        counts = self.counts
        for i in range(6):
            counts[i] = (f[16 + 2 * i] << 8) | f[17 + 2 * i]
        return {
            "pm1": float((f[10] << 8) | f[11]),
            "pm2_5": float((f[12] << 8) | f[13]),
            "pm10": float((f[14] << 8) | f[15]),
        }

    def set_mode(self, mode):
        """Reporting mode on the sensor: "passive" (answers requests) or "active"."""
        if mode not in ("passive", "active"):
            raise ValueError("mode is passive or active")
        self._command(_CMD_MODE, 1 if mode == "active" else 0)
        self._wait(_GOT_REPLY, _CMD_MODE, _REPLY_TIMEOUT_MS)
        self.mode = mode
        self._mode_sent = True

    def sleep(self):
        """Stop the fan and laser; confirmed by the sensor's reply."""
        self._command(_CMD_SLEEP, 0)
        self._wait(_GOT_REPLY, _CMD_SLEEP, _REPLY_TIMEOUT_MS)
        self._asleep = True
        self._warmup.cancel()

    def wake(self):
        """Start fan and laser (the sensor does not answer); read() is valid WARMUP_MS later."""
        self._command(_CMD_SLEEP, 1)
        self._asleep = False
        self._warmup.begin()
        self._mode_sent = False  # resend the mode with the first read after the warm-up
