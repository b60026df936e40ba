# Emulator of the Sensor.Community DNMS on I2C: calculate-LEQ closes an interval, data-ready
# follows after the computation time, LAeq/LAmin/LAmax as float words with CRC, version string.
# Facts as in drivers/dnms.py; the computation time is our assumption (the firmware gives none).
import struct

from simulator.devices.base import SensirionEmulator, sensirion_words

_COMPUTE_MS = 30
_READY = sensirion_words((1,))
_NOT_READY = sensirion_words((0,))


class DNMSEmulator(SensirionEmulator):
    ADDRESS = 0x55
    QUANTITIES = {"laeq": (25.0, 125.0, 0.0001), "lamin": (25.0, 125.0, 0.0001), "lamax": (25.0, 125.0, 0.0001)}

    def __init__(self, clock=None, version="DNMS T4.0 5.4"):
        super().__init__(clock)
        self.set(laeq=45.0, lamin=40.0, lamax=60.0)
        self.version = version
        self._computed_at = None  # when the LEQ of the closed interval is ready
        self.intervals = 0
        self._leq_words = None  # the float words of the values set, made once per set()
        self._leq_answer = b""  # ... and their bytes with CRCs

    def set(self, **values):
        super().set(**values)
        self._leq_words = None

    def on_command(self, cmd, data):
        if cmd == 0x0003:
            self._computed_at = self.clock.ticks_add(self._ready_at, _COMPUTE_MS)  # on_write: now
            self.intervals += 1
        elif cmd == 0x0004:
            at = self._computed_at
            ready = at is not None and self.clock.ticks_diff(self._ready_at, at) >= 0
            if self.fault_mode is None:  # the two healthy answers are made once (on_write set the time)
                self._answer = _READY if ready else _NOT_READY
            else:
                self.answer((1 if ready else 0,))
        elif cmd == 0x0005:
            words = self._leq_words
            if words is None:
                words = []
                for name in ("laeq", "lamin", "lamax"):
                    b = struct.pack(">f", self.values[name])
                    words.append((b[0] << 8) | b[1])
                    words.append((b[2] << 8) | b[3])
                self._leq_words = words
                self._leq_answer = sensirion_words(words)
            if self.fault_mode is None:
                self._answer = self._leq_answer
            else:
                self.answer(words)
            self._computed_at = None
        elif cmd == 0x0002:
            self.answer_text(self.version)
        elif cmd == 0x0001:
            self._computed_at = None
