# What the two ultrasonic emulators share: a free-running sensor that sends one range frame every
# PERIOD_MS, with the physics that matter for a fill-level or river-level node: gaussian-ish echo
# noise, dropouts (no echo: the sensor reports its out-of-range value) and spurious short echoes
# (rain, leaves, a bird under the sensor). All deterministic (an LCG), so a scenario replays.
from simulator.devices.base import UARTEmulator


class EchoEmulator(UARTEmulator):
    """Subclasses set PERIOD_MS, NO_ECHO_MM and implement frame(mm) -> bytes (fault applied)."""

    FAULTS = ("checksum", "nack", "stuck", "garbage", "no_echo")
    PERIOD_MS = 100
    NO_ECHO_MM = 0

    def __init__(self, clock=None, seed=1):
        super().__init__(clock)
        self.noise_m = 0.0  # spread of the echo noise (about one standard deviation)
        self.dropout = 0.0  # fraction of frames without an echo
        self.spurious = 0.0  # fraction of frames with a false echo between 0.1 m and the target
        self._rng = seed & 0x7FFFFFFF
        self._last = self.now()
        self._since_frame = 0

    def reseed(self, seed):
        """Start the echo physics' random sequence from seed (one per sensor in a simulation)."""
        self._rng = seed & 0x7FFFFFFF

    def _uniform(self):
        self._rng = (self._rng * 1103515245 + 12345) & 0x7FFFFFFF
        return ((self._rng >> 8) & 0xFFFF) / 65536.0

    def measured_mm(self):
        """The range the sensor reports for the current target, after the physics."""
        if self.fault_mode == "no_echo" or (self.dropout and self._uniform() < self.dropout):
            return self.NO_ECHO_MM
        d = self.values["distance"]
        if self.spurious and self._uniform() < self.spurious:
            d = 0.1 + (d - 0.1) * self._uniform()
        elif self.noise_m:
            # sum of three uniforms: a bell with standard deviation noise_m
            d += (self._uniform() + self._uniform() + self._uniform() - 1.5) * 2.0 * self.noise_m
        lo, hi, _ = self.QUANTITIES["distance"]
        return int(round(min(max(d, lo), hi) * 1000))

    def catch_up(self):
        elapsed = self.since(self._last)
        if elapsed <= 0:
            return
        self._last = self.clock.ticks_add(self._last, elapsed)
        self._since_frame += elapsed
        frames = self._since_frame // self.PERIOD_MS
        self._since_frame -= frames * self.PERIOD_MS
        # only the newest frames can still be in the host's receive buffer
        for _ in range(min(frames, self.RX_FIFO // 4 + 1)):
            self.send(self.frame(self.measured_mm()))

    def on_command(self, data):
        pass  # the sensor takes no commands

    def frame(self, mm):
        raise NotImplementedError
