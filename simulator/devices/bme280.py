# Register-level emulator of the Bosch BME280: a 256-byte register file, chip id, calibration in
# the datasheet's packed layout, forced mode with the measurement time of §9.1, the status
# "measuring" bit, adc words that the driver's compensation turns back into the set values
# (found by inverting the datasheet formulas), and the resolution each oversampling gives (§3.4).
from drivers.bme280 import compensate_h, compensate_p, compensate_t
from simulator.devices.base import I2CEmulator

# The BMP280 datasheet's worked example (§3.12) for T and P; H from a production BME280.
EXAMPLE_CALIBRATION = {
    "T1": 27504, "T2": 26435, "T3": -1000,
    "P1": 36477, "P2": -10685, "P3": 3024, "P4": 2855, "P5": 140, "P6": -7, "P7": 15500,
    "P8": -14600, "P9": 6000,
    "H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30,
}  # fmt: skip


def _put16(regs, at, v):
    v &= 0xFFFF
    regs[at] = v & 0xFF
    regs[at + 1] = v >> 8


def _search(f, target, lo, hi, rising):
    """The integer x in lo..hi whose f(x) is nearest target, for a monotonic f."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


class BME280Emulator(I2CEmulator):
    ADDRESS = 0x76
    FAULTS = ("nack", "stuck")  # no CRC on this bus; forced mode wakes it for every read
    # resolution: what survives the round trip at 1x oversampling (16-bit adc words, §3.4)
    QUANTITIES = {
        "temperature": (-40.0, 85.0, 0.011),
        "pressure": (30000.0, 110000.0, 3.5),
        "humidity": (0.0, 100.0, 0.02),
    }

    def __init__(self, clock=None, calibration=None, chip_id=0x60):
        super().__init__(clock)
        self.cal = dict(EXAMPLE_CALIBRATION if calibration is None else calibration)
        self.chip_id = chip_id
        self.regs = bytearray(256)
        self._pointer = 0
        self._done_at = None
        self._reset()
        self.set(temperature=20.0, pressure=101325.0, humidity=50.0)

    def _reset(self):
        r = self.regs
        for i in range(256):
            r[i] = 0
        r[0xD0] = self.chip_id
        c = self.cal
        for i, name in enumerate(("T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9")):
            _put16(r, 0x88 + 2 * i, c[name])
        r[0xA1] = c["H1"]
        _put16(r, 0xE1, c["H2"])
        r[0xE3] = c["H3"]
        h4 = c["H4"] & 0xFFF
        h5 = c["H5"] & 0xFFF
        r[0xE4] = h4 >> 4
        r[0xE5] = (h4 & 0x0F) | ((h5 & 0x0F) << 4)
        r[0xE6] = h5 >> 4
        r[0xE7] = c["H6"] & 0xFF
        for i in range(0xF7, 0xFD):  # data registers read 0x80000 until a first measurement
            r[i] = 0x80 if i in (0xF7, 0xFA) else 0
        r[0xFD] = 0x80
        self._done_at = None

    def on_write(self, data):
        if len(data) == 1:
            self._pointer = data[0]
            return
        for i in range(0, len(data) - 1, 2):  # writes are (register, value) pairs (§6.2.1)
            self._write_reg(data[i], data[i + 1])

    def _write_reg(self, reg, value):
        self.log(reg)
        if reg == 0xE0:
            if value == 0xB6:
                self._reset()
            return
        if reg in (0xF2, 0xF4, 0xF5):
            self.regs[reg] = value
        if reg == 0xF4 and value & 0x03 in (1, 2):
            self._start_forced()

    def _start_forced(self):
        meas = self.regs[0xF4]
        self._osrs = ((meas >> 5) & 7, (meas >> 2) & 7, self.regs[0xF2] & 7)
        ms = 1
        for i, code in enumerate(self._osrs):
            if code:
                ms += 2 * (1 << min(code, 5) - 1) + (1 if i else 0)  # typical time, §9.1
        self._done_at = self.clock.ticks_add(self.now(), ms)
        self.regs[0xF3] = 0x08

    def _finish_if_due(self):
        if self._done_at is None or self.clock.ticks_diff(self.now(), self._done_at) < 0:
            return
        self._done_at = None
        self.regs[0xF3] = 0
        self.regs[0xF4] &= 0xFC  # back to sleep mode after a forced measurement
        ot, op, oh = self._osrs
        # 16-bit resolution at 1x oversampling, one more bit per doubling up to 20 (§3.4.1)
        adc_t, adc_p, adc_h = self.adc(1 << (5 - min(ot or 1, 5)), 1 << (5 - min(op or 1, 5)))
        r = self.regs
        if ot:
            r[0xFA], r[0xFB], r[0xFC] = adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4
        if op:
            r[0xF7], r[0xF8], r[0xF9] = adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4
        if oh and self.chip_id == 0x60:
            r[0xFD], r[0xFE] = adc_h >> 8, adc_h & 0xFF

    def adc(self, step_t=1, step_p=1):
        """Raw adc words (T, P, H), multiples of the resolution steps, nearest the current values."""
        cal = self.cal
        want_t = self.values["temperature"] * 100
        k = _search(lambda k: compensate_t(cal, k * step_t)[1], want_t, 0, 0xFFFFF // step_t, True)
        adc_t = k * step_t
        t_fine = compensate_t(cal, adc_t)[0]
        want_p = self.values["pressure"] * 256
        k = _search(lambda k: compensate_p(cal, k * step_p, t_fine), want_p, 0, 0xFFFFF // step_p, False)
        adc_p = k * step_p
        want_h = self.values["humidity"] * 1024
        adc_h = _search(lambda a: compensate_h(cal, a, t_fine), want_h, 0, 0xFFFF, True)
        return adc_t, adc_p, adc_h

    def on_read(self, n):
        self._finish_if_due()
        start = self._pointer
        out = bytes(self.regs[(start + i) & 0xFF] for i in range(n))
        self._pointer = (start + n) & 0xFF
        return out
