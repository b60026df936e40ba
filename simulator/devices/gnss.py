# Sentence-level emulator of a GNSS receiver: every second an RMC then a GGA (NMEA 0183, checksum
# XOR between "$" and "*"), UTC from the emulator's clock, position from its values. Physics for
# the mobile scenario: fix losses (urban canyons) through has_fix, satellites and HDOP settable.
# Facts as in drivers/gnss.py.
from simulator.devices.base import UARTEmulator

_PERIOD_MS = 1000


def _angle(v, width):
    e4 = int(round(abs(v) * 600000))  # minutes to 1e-4
    deg = ("%03d" if width == 3 else "%02d") % (e4 // 600000)
    return "%s%02d.%04d" % (deg, (e4 % 600000) // 10000, e4 % 10000)


def _civil(days):
    """(year, month, day) of days since 1970-01-01 (H. Hinnant's algorithm)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


class GNSSEmulator(UARTEmulator):
    QUANTITIES = {"latitude": (-90.0, 90.0, 1e-5), "longitude": (-180.0, 180.0, 1e-5)}
    FAULTS = ("checksum", "nack", "stuck", "garbage", "no_fix")
    GARBAGE_HEAD = 0x24

    def __init__(self, clock=None, talker="GN"):
        super().__init__(clock)
        self.set(latitude=43.61092, longitude=3.87723)
        self.talker = talker
        self.has_fix = True
        self.satellites = 9
        self.hdop = 0.9
        # UTC is the satellites', counted from construction: setting the host's clock (a node dating
        # itself from the fix) does not move it
        self._utc0 = int(self.clock.time())
        self._run_ms = 0
        self._last = self.now()
        self._since = 0

    def sentence(self, body):
        s = 0
        for c in body:
            s ^= ord(c)
        if self.fault_mode == "checksum":
            s ^= 0x5A
        return ("$%s*%02X\r\n" % (body, s)).encode()

    def utc(self):
        """Unix seconds the satellites give now."""
        return self._utc0 + self._run_ms // 1000

    def epoch(self):
        """The RMC and GGA bytes of the current second."""
        t = self.utc()
        y, mo, d = _civil(t // 86400)
        sec = t % 86400
        hms = "%02d%02d%02d.00" % (sec // 3600, sec // 60 % 60, sec % 60)
        fix = self.has_fix and self.fault_mode != "no_fix"
        if fix:
            lat = self.values["latitude"]
            lon = self.values["longitude"]
            pos = "%s,%s,%s,%s" % (_angle(lat, 2), "N" if lat >= 0 else "S", _angle(lon, 3), "E" if lon >= 0 else "W")
        else:
            pos = ",,,"
        rmc = "%sRMC,%s,%s,%s,0.0,,%02d%02d%02d,,,%s" % (
            self.talker,
            hms,
            "A" if fix else "V",
            pos,
            d,
            mo,
            y % 100,
            "A" if fix else "N",
        )
        gga = "%sGGA,%s,%s,%d,%02d,%s,35.0,M,49.0,M,," % (
            self.talker,
            hms,
            pos,
            1 if fix else 0,
            self.satellites if fix else 0,
            "%.1f" % self.hdop if fix else "",
        )
        return self.sentence(rmc) + self.sentence(gga)  # fmt: skip

    def catch_up(self):
        elapsed = self.since(self._last)
        if elapsed <= 0:
            return
        self._last = self.clock.ticks_add(self._last, elapsed)
        self._run_ms += elapsed
        self._since += elapsed
        n = self._since // _PERIOD_MS
        self._since -= n * _PERIOD_MS
        if n:
            self.send(self.epoch())  # the newest second only: older ones overflow the FIFO anyway

    def on_command(self, data):
        pass  # configuration commands (UBX, PMTK) are not emulated
