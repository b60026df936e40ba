# Register-level emulator of the PCB Artists I2C decibel meter: the register map of
# drivers/pcb_db.py, whole-dB registers that read 0 until the module has calculated a window,
# min/max tracking restarted by RESET bit 1, power-down by CONTROL bit 0, system reset by RESET
# bit 3 (levels read 0 while powered down: our model).
# Not modelled: the 100-entry history, interrupts and thresholds.
from simulator.devices.base import I2CEmulator


class DecibelMeterEmulator(I2CEmulator):
    ADDRESS = 0x48
    FAULTS = ("nack", "stuck", "asleep")  # a plain register bus: no checksum to corrupt
    QUANTITIES = {"laeq": (35.0, 120.0, 1.0), "lamin": (35.0, 120.0, 1.0), "lamax": (35.0, 120.0, 1.0)}

    def __init__(self, clock=None, unique_id=0x1A2B3C4D, version=0x31):
        super().__init__(clock)
        self.set(laeq=50.0, lamin=45.0, lamax=60.0)
        self.unique_id = unique_id
        self.version = version
        self.regs = bytearray(0x78)
        self._pointer = 0
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[0] = self.version
        for i in range(4):
            r[1 + i] = (self.unique_id >> (24 - 8 * i)) & 0xFF
        r[0x06] = 0x02
        r[0x07] = 1000 >> 8
        r[0x08] = 1000 & 0xFF
        self.asleep = False
        self._window_start = self.now()
        self._minmax_start = self.now()

    def go_to_sleep(self):
        """Power down: no levels are calculated, the data registers read 0 (not calculated)."""
        r = self.regs
        r[0x06] |= 0x01
        r[0x0A] = r[0x0B] = r[0x0C] = 0
        self.asleep = True

    def _tavg(self):
        return max((self.regs[0x07] << 8) | self.regs[0x08], 1)

    def _update(self):
        r = self.regs
        if self.asleep:
            return
        if self.since(self._window_start) >= self._tavg():
            r[0x0A] = int(round(self.values["laeq"]))
        if self.since(self._minmax_start) >= self._tavg():
            r[0x0B] = int(round(self.values["lamin"]))
            r[0x0C] = int(round(self.values["lamax"]))

    def on_write(self, data):
        if not data:
            return
        self._pointer = data[0]
        for i, value in enumerate(data[1:]):
            self._write_reg(self._pointer + i, value)

    def _write_reg(self, reg, value):
        self.log(reg)
        if reg == 0x06:
            if value & 0x01:
                self.go_to_sleep()
            else:
                self.regs[0x06] = (self.regs[0x06] & 0x01) | (value & 0x1E)
        elif reg in (0x05, 0x07, 0x08, 0x0D, 0x0E):
            self.regs[reg] = value
        elif reg == 0x09:
            if value & 0x08:
                self._reset()
                self.wake_up()
                return
            if value & 0x02:
                self._update()
                self.regs[0x0B] = 0
                self.regs[0x0C] = 0
                self._minmax_start = self.now()

    def on_read(self, n):
        self._update()
        start = self._pointer
        out = bytes(self.regs[(start + i) % len(self.regs)] for i in range(n))
        return out
