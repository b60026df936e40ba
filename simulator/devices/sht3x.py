# Register-level emulator of the Sensirion SHT3x in single-shot mode (no clock stretching):
# 16-bit commands, 6-byte answers with CRC, NACK while measuring, status register with the
# heater bit. Facts as in drivers/sht3x.py.
from simulator.devices.base import SensirionEmulator, clamp_u16

_DURATION = {0x2400: 13, 0x240B: 5, 0x2416: 3}  # typical ms (Table 4); answers before the max


class SHT3xEmulator(SensirionEmulator):
    ADDRESS = 0x44
    QUANTITIES = {"temperature": (-40.0, 125.0, 175.0 / 65535), "humidity": (0.0, 100.0, 100.0 / 65535)}

    def __init__(self, clock=None):
        super().__init__(clock)
        self.set(temperature=20.0, humidity=50.0)
        self.heater = False

    def on_command(self, cmd, data):
        if cmd in _DURATION:
            t = self.values["temperature"]
            rh = self.values["humidity"]
            st = clamp_u16(round((t + 45.0) * 65535 / 175.0))
            srh = clamp_u16(round(rh * 65535 / 100.0))
            self.answer((st, srh), _DURATION[cmd])
        elif cmd == 0x306D:
            self.heater = True
        elif cmd == 0x3066:
            self.heater = False
        elif cmd == 0xF32D:
            self.answer((0x2000 if self.heater else 0,))
        elif cmd == 0x30A2:
            self.heater = False
