# Frame-level emulator of the DFRobot A02YYUW: a 4-byte frame every 100 ms, sum checksum.
# Facts as in drivers/a02yyuw.py. When no echo returns this emulator sends 0 mm, a value outside
# the datasheet range (what the real module sends then is not documented).
from simulator.devices.echo import EchoEmulator


class A02YYUWEmulator(EchoEmulator):
    QUANTITIES = {"distance": (0.03, 4.5, 0.001)}
    GARBAGE_HEAD = 0xFF
    PERIOD_MS = 100
    NO_ECHO_MM = 0

    def __init__(self, clock=None, seed=1):
        super().__init__(clock, seed)
        self.set(distance=1.0)

    def frame(self, mm):
        f = bytearray((0xFF, (mm >> 8) & 0xFF, mm & 0xFF, 0))
        f[3] = (f[0] + f[1] + f[2]) & 0xFF
        if self.fault_mode == "checksum":
            f[3] ^= 0x5A
        return f
