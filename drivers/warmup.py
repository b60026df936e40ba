# Warm-up timing of duty-cycled sensors: after wake() a sensor needs some time before its
# readings are valid (SDS011/PMS5003/SPS30: 30 s of fan and laser, decibel meter: settling).
from drivers.errors import NotReady


class Warmup:
    """Counts a sensor's warm-up on its driver's clock; nothing waits here."""

    def __init__(self, clock, duration_ms):
        self._clock = clock
        self.duration_ms = duration_ms
        self._since = None

    def begin(self):
        """The sensor was just woken: readings are valid duration_ms from now."""
        self._since = self._clock.ticks_ms()

    def cancel(self):
        """The sensor went to sleep: no warm-up under way."""
        self._since = None

    def left_ms(self):
        """Milliseconds until readings are valid; 0 when ready."""
        if self._since is None:
            return 0
        left = self.duration_ms - self._clock.ticks_diff(self._clock.ticks_ms(), self._since)
        if left <= 0:
            self._since = None
            return 0
        return left

    def require_ready(self, name):
        """Raise NotReady naming the sensor while the warm-up runs."""
        left = self.left_ms()
        if left:
            raise NotReady("%s: warming up, %d ms left" % (name, left))
