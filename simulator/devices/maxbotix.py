# Frame-level emulator of a MaxBotix HRXL-MaxSonar-WR (MB7389 class) on its serial output:
# "R" + 4 digits (mm) + CR. Facts as in drivers/maxbotix.py; no target reads 5000. The frame
# period is this emulator's choice (150 ms): the driver waits for whichever frame comes next.
from simulator.devices.echo import EchoEmulator


class MaxBotixEmulator(EchoEmulator):
    QUANTITIES = {"distance": (0.301, 4.999, 0.001)}
    FAULTS = ("nack", "stuck", "garbage", "no_echo")  # no checksum in the format
    GARBAGE_HEAD = 0x52
    PERIOD_MS = 150
    NO_ECHO_MM = 5000

    def __init__(self, clock=None, seed=1):
        super().__init__(clock, seed)
        self.set(distance=1.0)

    def frame(self, mm):
        return ("R%04d\r" % mm).encode()
