# Nova Fitness SDS011 laser PM2.5/PM10 sensor over UART (9600 8N1).
# Facts: "Laser Dust Sensor Control Protocol V1.3" (Nova Fitness, 2015): 10-byte data and reply
# frames, 19-byte command frames, commands 2 (reporting mode), 4 (query), 6 (sleep/work),
# 7 (firmware), 8 (working period); SDS011 datasheet V1.3: one frame a second in active mode,
# range 0.0-999.9 µg/m³, laser life about 8000 h, 30 s of fan/laser run before stable readings.
from micropython import const

from drivers.errors import NotReady
from drivers.uart_frames import FrameReader
from drivers.warmup import Warmup
from edge.clock import SystemClock

_HEAD = const(0xAA)
_TAIL = const(0xAB)
_DATA = const(0xC0)  # data frame: AA C0 pm25L pm25H pm10L pm10H id1 id2 sum AB
_REPLY = const(0xC5)  # reply frame: AA C5 cmd d1 d2 d3 id1 id2 sum AB
_COMMAND = const(0xB4)
_CMD_MODE = const(2)
_CMD_QUERY = const(4)
_CMD_SLEEP_WORK = const(6)
_CMD_FIRMWARE = const(7)
_CMD_PERIOD = const(8)
_FRAME_LEN = const(10)
_COMMAND_LEN = const(19)
_REPLY_TIMEOUT_MS = const(1000)

# Frame assembly results
_NONE = const(0)
_GOT_DATA = const(1)
_GOT_REPLY = const(2)


class SDS011:
    """SDS011(uart, mode="query", clock=None).

    mode "query": read() asks for one frame (the sensor keeps its laser running unless slept);
    mode "active": read() takes the next frame the sensor sends by itself every second.
    Duty cycling: sleep() stops fan and laser; wake() starts them, and read() raises NotReady until
    WARMUP_MS have passed since wake() (ready_in_ms() says how long). No bus traffic in the constructor.
    """

    WARMUP_MS = 30000

    def __init__(self, uart, mode="query", clock=None, timeout_ms=1500):
        # timeout_ms: the wait for a data frame; active mode sends one a second (datasheet V1.3)
        if mode not in ("query", "active"):
            raise ValueError("mode is query or active")
        self._uart = uart
        self._clock = clock if clock is not None else SystemClock()
        self.mode = mode
        self._timeout_ms = timeout_ms
        self._frame = bytearray(_FRAME_LEN)
        self._n = 0
        self._cmd = bytearray(_COMMAND_LEN)
        self._reader = FrameReader(uart, self._clock, "SDS011", self, 16)
        self._warmup = Warmup(self._clock, self.WARMUP_MS)
        self._asleep = False
        self.device_id = None

    # -- frame assembly (resynchronises on any byte that cannot continue a frame) --

    def take_byte(self, byte):
        """FrameReader protocol: one received byte; the frame kind when a valid frame is complete."""
        f = self._frame
        n = self._n
        if n == 0 and byte != _HEAD:
            return _NONE
        f[n] = byte
        n += 1
        if n == 2 and byte != _DATA and byte != _REPLY:
            n = 1 if byte == _HEAD else 0
        if n < _FRAME_LEN:
            self._n = n
            return _NONE
        self._n = 0
        if f[9] != _TAIL:
            self._resync()
            return _NONE
        s = 0
        for i in range(2, 8):
            s += f[i]
        if s & 0xFF != f[8]:
            self._reader.bad += 1
            self._resync()
            return _NONE
        return _GOT_DATA if f[1] == _DATA else _GOT_REPLY

    def _resync(self):
        """Re-scan the rejected frame's bytes after its first: a real frame may start inside it.

        Re-fed bytes land at lower indexes than the one being read, so the scan is in place.
        """
        f = self._frame
        self._n = 0
        for i in range(1, _FRAME_LEN):
            self.take_byte(f[i])

    def reset_frame(self):
        """FrameReader protocol: forget a half-assembled frame."""
        self._n = 0

    def _wait(self, want, cmd):
        timeout = self._timeout_ms if want == _GOT_DATA else _REPLY_TIMEOUT_MS
        self._reader.wait(want, self._frame, 2, cmd, timeout)
        return self._frame

    def _command(self, code, d1=0, d2=0):
        c = self._cmd  # bytes 5..14 are zero from its allocation, and no command writes them
        c[0] = _HEAD
        c[1] = _COMMAND
        c[2] = code
        c[3] = d1
        c[4] = d2
        c[15] = 0xFF  # device id FFFF: every sensor on the line
        c[16] = 0xFF
        s = 0
        for i in range(2, 17):
            s += c[i]
        c[17] = s & 0xFF
        c[18] = _TAIL
        self._reader.send(c)

    # -- public API --

    def ready_in_ms(self):
        """Milliseconds until readings are valid after wake(); 0 when ready."""
        return self._warmup.left_ms()

    def read(self):
        """{'pm2_5': µg/m³, 'pm10': µg/m³} from one fresh frame."""
        if self._asleep:
            raise NotReady("SDS011: asleep, call wake() and wait WARMUP_MS")
        self._warmup.require_ready("SDS011")
        if self.mode == "query":
            self._command(_CMD_QUERY)
        else:
            self._reader.drain()
        f = self._wait(_GOT_DATA, None)
        self.device_id = (f[6] << 8) | f[7]
        return {"pm2_5": ((f[3] << 8) | f[2]) / 10.0, "pm10": ((f[5] << 8) | f[4]) / 10.0}

    def sleep(self):
        """Stop fan and laser (spares the ~8000 h laser); confirmed by the sensor's reply."""
        self._command(_CMD_SLEEP_WORK, 1, 0)
        self._wait(_GOT_REPLY, _CMD_SLEEP_WORK)
        self._asleep = True
        self._warmup.cancel()

    def wake(self):
        """Start fan and laser, and set the reporting mode; read() is valid WARMUP_MS later."""
        self._command(_CMD_SLEEP_WORK, 1, 1)
        self._wait(_GOT_REPLY, _CMD_SLEEP_WORK)
        self._asleep = False
        self._warmup.begin()
        self.set_mode(self.mode)

    def set_mode(self, mode):
        """Reporting mode on the sensor: "query" (answers queries) or "active" (1 frame/s)."""
        if mode not in ("query", "active"):
            raise ValueError("mode is query or active")
        self._command(_CMD_MODE, 1, 1 if mode == "query" else 0)
        self._wait(_GOT_REPLY, _CMD_MODE)
        self.mode = mode

    def set_working_period(self, minutes):
        """The sensor's own duty cycle: measure every minutes (1-30), 0 = continuous."""
        if not 0 <= minutes <= 30:
            raise ValueError("working period is 0..30 minutes")
        self._command(_CMD_PERIOD, 1, minutes)
        self._wait(_GOT_REPLY, _CMD_PERIOD)

    def firmware(self):
        """(year, month, day) of the sensor firmware."""
        self._command(_CMD_FIRMWARE)
        f = self._wait(_GOT_REPLY, _CMD_FIRMWARE)
        return (2000 + f[3], f[4], f[5])
