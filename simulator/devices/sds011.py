# Emulator of the Nova SDS011 at the UART byte level: active mode (a frame a second), query mode,
# sleep/work, working period, firmware version, the 19-byte command frames with their checksum,
# and the laser-on time a technician would want to know. Facts as in drivers/sds011.py.
from simulator.devices.base import UARTEmulator

_PERIOD_MS = 1000
_WARMUP_MS = 30000  # the fan and laser run 30 s before each report in working-period mode


def _frame(kind, b2, b3, b4, b5, b6, b7):
    f = bytearray((0xAA, kind, b2 & 0xFF, b3 & 0xFF, b4 & 0xFF, b5 & 0xFF, b6 & 0xFF, b7 & 0xFF, 0, 0xAB))
    f[8] = sum(f[2:8]) & 0xFF
    return f


class SDS011Emulator(UARTEmulator):
    QUANTITIES = {"pm2_5": (0.0, 999.9, 0.1), "pm10": (0.0, 999.9, 0.1)}
    GARBAGE_HEAD = 0xAA

    def __init__(self, clock=None, device_id=0xA160, firmware=(15, 7, 10)):
        super().__init__(clock)
        self.device_id = device_id
        self.firmware = firmware
        self.query_mode = False
        self.period_min = 0
        self.laser_on_ms = 0
        self._last = self.now()  # time accounted for (frames and laser hours)
        self._since_frame = 0
        self._rx = bytearray()

    def go_to_sleep(self):
        self.catch_up()
        self.asleep = True

    def _data_frame(self):
        pm25 = int(round(self.values["pm2_5"] * 10))
        pm10 = int(round(self.values["pm10"] * 10))
        f = _frame(0xC0, pm25, pm25 >> 8, pm10, pm10 >> 8, self.device_id >> 8, self.device_id)
        if self.fault_mode == "checksum":
            f[8] ^= 0x5A
        return f

    def catch_up(self):
        elapsed = self.since(self._last)
        if elapsed <= 0:
            return
        self._last = self.clock.ticks_add(self._last, elapsed)
        if self.asleep:
            return
        self.laser_on_ms += elapsed
        if self.query_mode:
            return
        period = _PERIOD_MS if self.period_min == 0 else self.period_min * 60000
        self._since_frame += elapsed
        frames = self._since_frame // period
        self._since_frame -= frames * period
        for _ in range(min(frames, self.RX_FIFO // 10 + 1)):
            self.send(self._data_frame())

    def on_command(self, data):
        self._rx += data
        while True:
            start = self._rx.find(b"\xaa\xb4")
            if start < 0 or len(self._rx) - start < 19:
                if start < 0:
                    self._rx = bytearray()
                return
            cmd = self._rx[start : start + 19]
            self._rx = self._rx[start + 19 :]
            if cmd[18] == 0xAB and sum(cmd[2:17]) & 0xFF == cmd[17]:
                self._handle(cmd)

    def _reply(self, code, d1, d2, d3):
        f = _frame(0xC5, code, d1, d2, d3, self.device_id >> 8, self.device_id)
        if self.fault_mode == "checksum":
            f[8] ^= 0x5A
        self.send(f)

    def _handle(self, cmd):
        code, setting, value = cmd[2], cmd[3], cmd[4]
        self.log(code)
        if code == 6:  # sleep/work: the only command a sleeping sensor answers
            if setting == 1:
                if value == 0:
                    self.asleep = True
                else:
                    self.wake_up()
                    self._since_frame = 0
            self._reply(6, setting, 0 if self.asleep else 1, 0)
            return
        if self.asleep:
            return
        if code == 4:
            self.send(self._data_frame())
        elif code == 2:
            if setting == 1:
                self.query_mode = value == 1
            self._reply(2, setting, 1 if self.query_mode else 0, 0)
        elif code == 8:
            if setting == 1:
                self.period_min = value
            self._reply(8, setting, self.period_min, 0)
        elif code == 7:
            self._reply(7, self.firmware[0], self.firmware[1], self.firmware[2])
