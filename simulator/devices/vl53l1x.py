# Register-level emulator of the ST VL53L1X: a register file addressed by 16-bit big-endian
# pointers with auto-increment, the model id, boot state, ranging started/stopped by 0x87, a
# result every timing budget (read from 0x5E with the ULD tables), data-ready on bit 0 of 0x31
# until 0x86 clears it, and the range status: 9 valid, 4 (signal fail) beyond the mode's reach.
# Facts as in drivers/vl53l1x.py.
from simulator.devices.base import I2CEmulator

_SIZE = 0x120  # registers 0x0000..0x011F cover everything the ULD touches
# timing-budget register 0x5E -> ms, both modes (drivers/vl53l1x.py holds the forward tables)
_BUDGET = {0x001D: 15, 0x0051: 20, 0x00D6: 33, 0x01AE: 50, 0x02E1: 100, 0x03E1: 200, 0x0591: 500,
           0x001E: 20, 0x0060: 33, 0x00AD: 50, 0x01CC: 100, 0x02D9: 200, 0x048F: 500}  # fmt: skip
_SHORT_REACH_M = 1.3  # DS12385 §2.5
_LONG_REACH_M = 4.0


class VL53L1XEmulator(I2CEmulator):
    ADDRESS = 0x29
    QUANTITIES = {"distance": (0.04, 4.0, 0.001)}
    FAULTS = ("nack", "stuck", "no_echo")

    def __init__(self, clock=None):
        super().__init__(clock)
        self.set(distance=1.0)
        r = bytearray(_SIZE)
        r[0x010F] = 0xEA
        r[0x0110] = 0xCC
        r[0x00E5] = 0x01  # booted
        r[0x00DE] = 0x01  # oscillator calibration: any plausible value
        r[0x00DF] = 0x48
        r[0x0030] = 0x01
        r[0x004B] = 0x0A
        self.regs = r
        self._pointer = 0
        self.ranging = False
        self._started = 0
        self.ranges = 0

    def budget_ms(self):
        return _BUDGET.get((self.regs[0x5E] << 8) | self.regs[0x5F], 100)

    def short_mode(self):
        return self.regs[0x4B] == 0x14

    def _update(self):
        """Complete a range when the timing budget has passed since the start or the last clear."""
        r = self.regs
        if not self.ranging or r[0x31] & 1 or self.since(self._started) < self.budget_ms():
            return
        d = self.values["distance"]
        reach = _SHORT_REACH_M if self.short_mode() else _LONG_REACH_M
        status = 4 if self.fault_mode == "no_echo" or d > reach else 9
        mm = int(round(d * 1000)) if status == 9 else 0
        r[0x89] = status
        r[0x96] = mm >> 8
        r[0x97] = mm & 0xFF
        r[0x31] |= 1
        self.ranges += 1

    def on_write(self, data):
        if len(data) < 2:
            return
        reg = (data[0] << 8) | data[1]
        self._pointer = reg
        r = self.regs
        for i in range(2, len(data)):
            a = reg + i - 2
            if a < _SIZE:
                r[a] = data[i]
        if len(data) > 2 and reg <= 0x87 < reg + len(data) - 2:
            self.log(r[0x87])
            self.ranging = r[0x87] == 0x40
            r[0x31] &= 0xFE
            self._started = self.now()
        if len(data) > 2 and reg <= 0x86 < reg + len(data) - 2 and r[0x86] & 1:
            r[0x31] &= 0xFE  # interrupt cleared: the next range starts
            self._started = self.now()

    def on_read(self, n):
        self._update()
        a = self._pointer
        return bytes(self.regs[a : a + n])
