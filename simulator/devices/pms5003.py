# Emulator of the Plantower PMS5003/PMS7003 at the UART byte level: active mode (a frame every
# 2.3 s when stable), passive mode, sleep/wake, 8-byte replies. CF=1 ("standard") values equal the
# atmospheric ones here (the sensor's own CF correction is not modelled); particle counts are
# settable through .counts. Facts as in drivers/pms5003.py.
from simulator.devices.base import UARTEmulator

_PERIOD_MS = 2300


def _with_sum(f):
    s = sum(f[: len(f) - 2])
    f[len(f) - 2] = (s >> 8) & 0xFF
    f[len(f) - 1] = s & 0xFF
    return f


class PMS5003Emulator(UARTEmulator):
    QUANTITIES = {"pm1": (0.0, 1000.0, 1.0), "pm2_5": (0.0, 1000.0, 1.0), "pm10": (0.0, 1000.0, 1.0)}
    GARBAGE_HEAD = 0x42

    def __init__(self, clock=None):
        super().__init__(clock)
        self.active = True
        self.counts = [0, 0, 0, 0, 0, 0]
        self._last = self.now()
        self._since_frame = 0
        self._rx = bytearray()

    def go_to_sleep(self):
        self.catch_up()
        self.asleep = True

    def data_frame(self):
        f = bytearray(32)
        f[0], f[1], f[2], f[3] = 0x42, 0x4D, 0, 28
        pm = [int(round(self.values[k])) for k in ("pm1", "pm2_5", "pm10")]
        words = pm + pm + self.counts + [0]
        for i, w in enumerate(words):
            f[4 + 2 * i] = (w >> 8) & 0xFF
            f[5 + 2 * i] = w & 0xFF
        _with_sum(f)
        if self.fault_mode == "checksum":
            f[31] ^= 0x5A
        return f

    def catch_up(self):
        elapsed = self.since(self._last)
        if elapsed <= 0:
            return
        self._last = self.clock.ticks_add(self._last, elapsed)
        if self.asleep or not self.active:
            return
        self._since_frame += elapsed
        frames = self._since_frame // _PERIOD_MS
        self._since_frame -= frames * _PERIOD_MS
        for _ in range(min(frames, self.RX_FIFO // 32 + 1)):
            self.send(self.data_frame())

    def _reply(self, cmd, data):
        f = _with_sum(bytearray((0x42, 0x4D, 0, 4, cmd, data, 0, 0)))
        if self.fault_mode == "checksum":
            f[7] ^= 0x5A
        self.send(f)

    def on_command(self, data):
        self._rx += data
        while len(self._rx) >= 7:
            if self._rx[0] != 0x42 or self._rx[1] != 0x4D:
                self._rx = self._rx[1:]
                continue
            c = self._rx[:7]
            self._rx = self._rx[7:]
            if sum(c[:5]) == (c[5] << 8) | c[6]:
                self._handle(c[2], c[4])

    def _handle(self, cmd, data):
        self.log(cmd)
        if cmd == 0xE4:
            if data == 0:
                if not self.asleep:
                    self._reply(0xE4, 0)
                self.asleep = True
            else:
                self.wake_up()
                self._since_frame = 0
            return
        if self.asleep:
            return
        if cmd == 0xE1:
            self.active = data == 1
            self._reply(0xE1, data)
        elif cmd == 0xE2 and not self.active:
            self.send(self.data_frame())
