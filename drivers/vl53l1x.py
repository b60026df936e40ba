# ST VL53L1X time-of-flight ranging sensor over I2C (16-bit register addresses, big-endian).
# Facts: ST ultra lite driver STSW-IMG009 (ULD, BSD-3): model id 0xEACC at 0x010F; boot state bit 0
# of 0x00E5; the default configuration written to 0x2D..0x87 at init, then one ranging to settle
# VHV, 0x0008 = 0x09 and 0x000B = 0; start/stop ranging 0x87 = 0x40/0x00; data ready when bit 0 of
# 0x31 equals the interrupt polarity (active high with the default 0x30 = 0x01); clear 0x86 = 1;
# range status at 0x89 (raw 9 = valid), distance in mm at 0x96. Distance modes and timing budgets
# are the ULD's register tables; VL53L1X datasheet (DS12385) §2.5: short mode up to 1.3 m, long
# mode up to 4 m in the dark.
from micropython import const

from drivers.errors import InvalidValue, NotPresent, NotReady, SensorTimeout, bus_error
from edge.clock import SystemClock

ADDRESS = const(0x29)
_MODEL_ID = const(0x010F)
_BOOT = const(0x00E5)
_OSC_CALIBRATE = const(0x00DE)
_INTERMEASUREMENT = const(0x006C)
_GPIO_STATUS = const(0x0031)
_CLEAR = const(0x0086)
_MODE_START = const(0x0087)
_RESULT = const(0x0089)  # range status; distance at 0x0096 = _RESULT + 13
_RESULT_LEN = const(15)
_VALID = const(9)  # raw range status of a valid range (ULD status table: 9 -> 0)
_POLL_MS = const(5)
_BOOT_MS = const(10)

# 0x2D..0x87 of the ULD default configuration (the last byte, 0x40, starts a ranging)
_INIT = bytes.fromhex(
    "002d"  # register address, then 0x2D..0x87
    "0000000102000208000810010100000000ff00"  # 0x2D-0x3F
    "0f0000000000200b0000020a21000005"  # 0x40-0x4F
    "00000000c8000038ff010008000001db"  # 0x50-0x5F
    "0f01f10d0168008008b8000000000f89"  # 0x60-0x6F
    "00000000000000010f0d0e0e000002c7"  # 0x70-0x7F
    "ff9b000000010140"  # 0x80-0x87
)

# mode -> phasecal 0x4B, vcsel A 0x60, vcsel B 0x63, valid phase 0x69, WOI 0x78 (word),
# initial phase 0x7A (word), and {timing budget ms: (0x5E word, 0x61 word)}
_MODES = {
    "short": (0x14, 0x07, 0x05, 0x38, 0x0705, 0x0606, {
        15: (0x001D, 0x0027), 20: (0x0051, 0x006E), 33: (0x00D6, 0x006E), 50: (0x01AE, 0x01E8),
        100: (0x02E1, 0x0388), 200: (0x03E1, 0x0496), 500: (0x0591, 0x05C1)}),
    "long": (0x0A, 0x0F, 0x0D, 0xB8, 0x0F0D, 0x0E0E, {
        20: (0x001E, 0x0022), 33: (0x0060, 0x006E), 50: (0x00AD, 0x00C6), 100: (0x01CC, 0x01EA),
        200: (0x02D9, 0x02F8), 500: (0x048F, 0x04A4)}),
}  # fmt: skip


class VL53L1X:
    """VL53L1X(i2c, address=0x29, distance_mode="long", timing_budget_ms=100, clock=None).

    The first read() checks the model id, waits for boot, writes the ULD default configuration,
    the distance mode and timing budget, and starts continuous ranging; each read() then waits
    for the next range (at most two timing budgets). A range the chip flags invalid (no target,
    signal or sigma failure, out of bounds) raises InvalidValue with its status. No bus traffic
    in the constructor."""

    WARMUP_MS = 0

    def __init__(self, i2c, address=ADDRESS, distance_mode="long", timing_budget_ms=100, clock=None):
        mode = _MODES.get(distance_mode)
        if mode is None:
            raise ValueError("distance_mode is short or long")
        if timing_budget_ms not in mode[6]:
            raise ValueError("timing budget of %s mode is one of %s ms" % (distance_mode, sorted(mode[6])))
        self._i2c = i2c
        self._address = address
        self._clock = clock if clock is not None else SystemClock()
        self._mode = mode
        self.timing_budget_ms = timing_budget_ms
        self._tx = bytearray(6)
        tx = memoryview(self._tx)
        self._tx_views = (None, None, tx[:2], tx[:3], tx[:4], None, tx)  # by length, made once
        self._rx = bytearray(_RESULT_LEN)
        rx = memoryview(self._rx)
        self._rx_views = {1: rx[:1], 2: rx[:2], _RESULT_LEN: rx}
        self._ready = False  # configured
        self._ranging = False
        self.status = None  # raw range status of the last read

    # -- register access --

    def _write(self, reg, value, size):
        tx = self._tx
        tx[0] = reg >> 8
        tx[1] = reg & 0xFF
        for i in range(size):
            tx[2 + i] = (value >> (8 * (size - 1 - i))) & 0xFF
        self._send(self._tx_views[2 + size])

    def _send(self, buf):
        try:
            self._i2c.writeto(self._address, buf)
        except OSError as e:
            raise bus_error(e, "VL53L1X") from None

    def _read(self, reg, n):
        """Read n bytes from reg into self._rx; returns them as a big-endian number when n <= 2."""
        tx = self._tx
        tx[0] = reg >> 8
        tx[1] = reg & 0xFF
        try:
            self._i2c.writeto(self._address, self._tx_views[2], False)
            self._i2c.readfrom_into(self._address, self._rx_views[n])
        except OSError as e:
            raise bus_error(e, "VL53L1X") from None
        rx = self._rx
        return rx[0] if n == 1 else (rx[0] << 8) | rx[1]

    # -- ULD sequences --

    def _wait_ready(self, timeout_ms):
        clock = self._clock
        t0 = clock.ticks_ms()
        while not self._read(_GPIO_STATUS, 1) & 1:
            if clock.ticks_diff(clock.ticks_ms(), t0) >= timeout_ms:
                raise SensorTimeout("VL53L1X: no range within %d ms" % timeout_ms)
            clock.sleep_ms(_POLL_MS)

    def _init(self):
        if self._read(_MODEL_ID, 2) != 0xEACC:
            raise NotPresent("VL53L1X: model id 0x%04x is not 0xEACC" % self._read(_MODEL_ID, 2))
        t0 = self._clock.ticks_ms()
        while not self._read(_BOOT, 1) & 1:
            if self._clock.ticks_diff(self._clock.ticks_ms(), t0) >= _BOOT_MS:
                raise SensorTimeout("VL53L1X: did not boot")
            self._clock.sleep_ms(1)
        self._send(_INIT)  # ends with 0x87 = 0x40: one ranging to settle the VHV loop
        self._wait_ready(2 * 100 + 50)  # the default configuration's budget is about 100 ms
        self._write(_CLEAR, 1, 1)
        self._write(_MODE_START, 0, 1)
        self._write(0x0008, 0x09, 1)  # VHV_CONFIG__TIMEOUT_MACROP_LOOP_BOUND
        self._write(0x000B, 0, 1)
        m = self._mode
        self._write(0x004B, m[0], 1)
        self._write(0x0060, m[1], 1)
        self._write(0x0063, m[2], 1)
        self._write(0x0069, m[3], 1)
        self._write(0x0078, m[4], 2)
        self._write(0x007A, m[5], 2)
        a, b = m[6][self.timing_budget_ms]
        self._write(0x005E, a, 2)
        self._write(0x0061, b, 2)
        # inter-measurement period = the timing budget: ranges back to back (ULD: x 1.075 x PLL)
        pll = self._read(_OSC_CALIBRATE, 2) & 0x3FF
        self._write(_INTERMEASUREMENT, int(pll * self.timing_budget_ms * 1.075), 4)
        self._ready = True

    # -- public API --

    def read(self):
        """{'distance': metres} of the next valid range."""
        if not self._ready:
            self._init()
            self.wake()
        if not self._ranging:
            raise NotReady("VL53L1X: stopped, call wake()")
        self._wait_ready(2 * self.timing_budget_ms + 50)
        self._read(_RESULT, _RESULT_LEN)
        rx = self._rx
        self.status = rx[0] & 0x1F
        mm = (rx[13] << 8) | rx[14]
        self._write(_CLEAR, 1, 1)
        if self.status != _VALID:
            raise InvalidValue("VL53L1X: range status %d (no valid target)" % self.status)
        return {"distance": mm / 1000.0}

    def sleep(self):
        """Stop ranging (the chip idles at a few µA)."""
        self._write(_MODE_START, 0, 1)
        self._ranging = False

    def wake(self):
        """Start continuous ranging (configures the chip first when needed)."""
        if not self._ready:
            self._init()
        self._write(_CLEAR, 1, 1)
        self._write(_MODE_START, 0x40, 1)
        self._ranging = True
