# Register-level emulator of the Sensirion SHT4x: single-byte commands, 6-byte answers with CRC,
# NACK while a measurement runs. Facts as in drivers/sht4x.py (datasheet §4.5, §4.6, §4.9).
from simulator.devices.base import SensirionEmulator, clamp_u16

# command -> typical duration in ms (the chip answers after this, before the datasheet maximum)
_DURATION = {0xFD: 7, 0xF6: 4, 0xE0: 2, 0x39: 1007, 0x32: 107, 0x2F: 1007, 0x24: 107, 0x1E: 1007, 0x15: 107}


class SHT4xEmulator(SensirionEmulator):
    ADDRESS = 0x44
    COMMAND_BYTES = 1  # SHT4x commands are one byte (datasheet §4.5)
    QUANTITIES = {"temperature": (-40.0, 125.0, 175.0 / 65535), "humidity": (0.0, 100.0, 125.0 / 65535)}

    def __init__(self, clock=None, serial=0x12345678):
        super().__init__(clock)
        self.set(temperature=20.0, humidity=50.0)
        self.serial = serial

    def on_command(self, cmd, data):
        if cmd in _DURATION:
            t = self.values["temperature"]
            rh = self.values["humidity"]
            st = clamp_u16(round((t + 45.0) * 65535 / 175.0))
            srh = clamp_u16(round((rh + 6.0) * 65535 / 125.0))
            self.answer((st, srh), _DURATION[cmd])
        elif cmd == 0x89:
            words = ((self.serial >> 16) & 0xFFFF, self.serial & 0xFFFF)
            self.answer(words, 1)
        # soft reset and unknown commands: nothing to read afterwards
