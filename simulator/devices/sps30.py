# Register-level emulator of the Sensirion SPS30 on I2C: idle / measuring / sleep states, a new
# measurement every second, the data-ready flag, big-endian floats in CRC-checked words, the
# double wake-up, fan cleaning, serial number. Facts as in drivers/sps30.py.
import struct

from simulator.devices.base import SensirionEmulator

_INTERVAL_MS = 1000
_WAKE_WINDOW_MS = 100  # the interface stays up this long after the wake pulse (§6.3.9)
_CLEANING_MS = 10000


def _float_words(values):
    words = []
    for v in values:
        b = struct.pack(">f", v)
        words.append((b[0] << 8) | b[1])
        words.append((b[2] << 8) | b[3])
    return words


class SPS30Emulator(SensirionEmulator):
    ADDRESS = 0x69
    FAULTS = ("checksum", "nack", "stuck", "asleep")
    QUANTITIES = {
        "pm1": (0.0, 1000.0, 0.001),
        "pm2_5": (0.0, 1000.0, 0.001),
        "pm4": (0.0, 1000.0, 0.001),
        "pm10": (0.0, 1000.0, 0.001),
    }

    def __init__(self, clock=None, serial="8C4F1A2B3D5E6F70"):
        super().__init__(clock)
        self.serial = serial
        self.measuring = False
        self.numbers = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.typical_size = 0.0
        self.cleaning_until = None
        self._started = 0
        self._read_index = 0  # index of the last measurement the host read
        self._wake_pulse = None

    def nacks(self):
        if self.fault_mode == "nack":
            return True
        if not self.asleep:
            return False
        if self._wake_pulse is not None and self.since(self._wake_pulse) <= _WAKE_WINDOW_MS:
            return False
        self._wake_pulse = self.now()  # this transfer's start condition is the wake pulse
        return True

    def go_to_sleep(self):
        self.asleep = True
        self.measuring = False
        self._wake_pulse = None

    def _index(self):
        return self.since(self._started) // _INTERVAL_MS if self.measuring else 0

    def on_command(self, cmd, data):
        if self.asleep:
            if cmd == 0x1103:
                self.wake_up()
            return
        if cmd == 0x0010 and not self.measuring:
            self.measuring = True
            self._started = self.now()
            self._read_index = 0
        elif cmd == 0x0104:
            self.measuring = False
        elif cmd == 0x0202:
            ready = 1 if self.measuring and self._index() > self._read_index else 0
            self.answer((ready,))
        elif cmd == 0x0300:
            self._read_index = self._index()
            v = self.values
            vals = [v["pm1"], v["pm2_5"], v["pm4"], v["pm10"]] + list(self.numbers) + [self.typical_size]
            self.answer(_float_words(vals))
        elif cmd == 0x1001 and not self.measuring:
            self.go_to_sleep()
        elif cmd == 0x5607 and self.measuring:
            self.cleaning_until = self.clock.ticks_add(self.now(), _CLEANING_MS)
        elif cmd == 0xD033:
            self.answer_text(self.serial)
        elif cmd == 0xD304:
            self.measuring = False
