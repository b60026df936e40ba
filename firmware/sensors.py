# The attached sensors: each config entry (firmware.config) becomes a Sensor around the driver the
# chip registry (drivers/registry.py) names.
# Drivers follow docs/drivers.md: read() -> vocabulary dict, sleep(), wake(), WARMUP_MS, typed
# errors (SensorError). A driver that cannot be built (absent chip) is retried at the next cycle;
# a failing read counts a fault and the reading goes on without that sensor's quantities.
from drivers.errors import SensorError
from drivers.registry import CHIPS, driver_class
from firmware import derived

_NOISE = ("laeq",)
_COUNTS = ("count_in", "count_out")


class Sensor:
    def __init__(self, spec, hal, clock):
        self.spec = spec
        self.type = spec["type"]
        module, _, kind, quantities = CHIPS[self.type]
        self._derived = spec.get("derived") or {}
        self.quantities = quantities + derived.quantities(self._derived)
        self.kind = "noise" if quantities[0] in _NOISE else "count" if quantities[0] in _COUNTS else "sample"
        self._module = module
        self._bus_kind = kind
        self._hal = hal
        self._clock = clock
        self.driver = None
        self.faults = 0  # failed reads and failed constructions
        self.reads = 0
        self.last_error = None  # the latest failure, for a technician's console
        self.awake = False
        cls = self._class()
        self.warmup_ms = getattr(cls, "WARMUP_MS", 0) if cls is not None else 0

    def _class(self):
        try:
            return driver_class(self.type)
        except (ImportError, AttributeError):
            return None

    def _build(self):
        if self.driver is not None:
            return True
        try:
            cls = self._class()
            if cls is None:
                raise ImportError(self._module)
            spec = self.spec
            if self._bus_kind == "uart":
                self.driver = cls(self._hal.uart(spec["uart"]), clock=self._clock)
            elif self._bus_kind == "i2c":
                bus = self._hal.i2c(spec["i2c"])
                if spec.get("address") is None:
                    self.driver = cls(bus, clock=self._clock)
                else:
                    self.driver = cls(bus, address=spec["address"], clock=self._clock)
            else:
                pins = [self._hal.pin(p) for p in spec["pins"]]
                guard = getattr(self._hal, "irq_guard", None)  # virtual pins; a board uses machine's
                if guard is None:
                    self.driver = cls(*pins, clock=self._clock)
                else:
                    self.driver = cls(*pins, clock=self._clock, irq_guard=guard)
            return True
        except Exception as e:  # absent chip, wrong wiring, missing driver module: never fatal
            self._fail("build", e)
            self.driver = None
            return False

    def _fail(self, what, e):
        self.faults += 1
        self.last_error = "%s: %s %s" % (what, type(e).__name__, e)

    def wake(self):
        if self._build():
            try:
                self.driver.wake()
                self.awake = True
            except Exception as e:
                self._fail("wake", e)

    def sleep(self):
        if self.driver is not None:
            try:
                self.driver.sleep()
            except Exception as e:
                self._fail("sleep", e)
        self.awake = False

    def read(self):
        """The calibrated values, or None after a fault (counted)."""
        if not self._build():
            return None
        try:
            n = self._derived.get("echoes", 1)
            values = self.driver.read() if n == 1 else self._echoes(n)
        except Exception as e:  # SensorError, and anything a broken sensor makes a driver raise
            self._fail("read", e)
            return None
        self.reads += 1
        if self._derived:
            values = derived.apply(self._derived, values)
        out = {}
        cal = self.spec["calibration"]
        for q in values:
            v = values[q]
            if q in self.quantities and isinstance(v, (int, float)) and v == v:  # v == v: not NaN
                if q in cal:
                    g, o = cal[q]
                    v = g * v + o
                out[q] = v
        return out

    def _echoes(self, n):
        """n readings of a ranging sensor, reduced by firmware.derived.robust_distance."""
        echoes = []
        last = None
        for _ in range(n):
            try:
                echoes.append(self.driver.read()["distance"])
            except SensorError as e:  # no echo, bad frame: that echo is out, the others count
                last = e
        d = derived.robust_distance(echoes, n, self._derived["reject_m"])
        if d is None:
            raise SensorError("no majority of %d echoes agrees (%d valid, last error: %s)" % (n, len(echoes), last))
        return {"distance": d}


def build_all(specs, hal, clock):
    return [Sensor(s, hal, clock) for s in specs]
