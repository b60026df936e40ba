# GNSS receiver over UART speaking NMEA 0183 (u-blox, Quectel L76, MediaTek ...: 9600 8N1 typical).
# Facts: NMEA 0183 v4.10 sentence format: "$", talker (GP, GN, GL, GA, GB) and type, comma-separated
# fields, "*" and a checksum of two hex digits = XOR of every character between "$" and "*", CR LF;
# at most 82 characters. GGA fields: 1 UTC hhmmss.ss, 2-3 latitude ddmm.mmmm N/S, 4-5 longitude
# dddmm.mmmm E/W, 6 fix quality (0 = invalid), 7 satellites used, 8 HDOP. RMC fields: 1 UTC,
# 2 status (A valid, V warning), 3-6 position, 7 speed (knots), 8 course, 9 date ddmmyy.
from micropython import const

from drivers.errors import InvalidValue, NoFix
from drivers.uart_frames import FrameReader
from edge.clock import SystemClock

_MAX_LEN = const(82)
_EPOCH = const(1)  # a GGA and an RMC of the same second are in
_NONE = const(0)
_GGA = const(1)
_RMC = const(2)
_MAX_FIELDS = const(20)


def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 0x20
    return c - 87 if 97 <= c <= 102 else -1


def _days_from_civil(y, m, d):
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


class GNSS:
    """GNSS(uart, clock=None, timeout_ms=2500): read() waits for the next GGA and RMC of one second.

    Returns {'latitude': degrees N, 'longitude': degrees E} of that fix and sets the fix details as
    attributes: quality (GGA fix quality), satellites, hdop, time (unix seconds, UTC, from RMC date
    and time). No fix (quality 0 or status V) raises NoFix; nothing from an earlier second is ever
    returned (stale sentences are drained before each read). Sentences with a wrong checksum are
    counted and skipped (ChecksumError when only those came). No bus traffic in the constructor."""

    WARMUP_MS = 0  # a cold start takes tens of seconds, but NoFix says so: no fixed warm-up

    def __init__(self, uart, clock=None, timeout_ms=2500):
        self._clock = clock if clock is not None else SystemClock()
        self._timeout_ms = timeout_ms
        self._buf = bytearray(_MAX_LEN + 2)
        self._n = 0
        self._comma = bytearray(_MAX_FIELDS + 1)  # start index of each field
        self._reader = FrameReader(uart, self._clock, "GNSS", self, 32)
        self._gga = [-1, 0, 0, 0, 0, 0]  # time cs, quality, satellites, hdop x100, lat e6, lon e6
        self._rmc = [-2, 0, 0]  # time cs, valid, date ddmmyy
        self.quality = 0
        self.satellites = 0
        self.hdop = None
        self.time = None

    # -- sentence assembly and parsing (no allocation) --

    def reset_frame(self):
        self._n = 0

    def take_byte(self, byte):
        """FrameReader protocol: _EPOCH when a GGA and an RMC of the same second have arrived."""
        b = self._buf
        if byte == 0x24:  # "$"
            b[0] = byte
            self._n = 1
            return _NONE
        n = self._n
        if n == 0:
            return _NONE
        if byte == 0x0D or byte == 0x0A:
            self._n = 0
            kind = self._sentence(n)
            if kind == _GGA and self._gga[0] == self._rmc[0]:
                return _EPOCH
            if kind == _RMC and self._rmc[0] == self._gga[0]:
                return _EPOCH
            return _NONE
        if n >= _MAX_LEN:
            self._n = 0  # longer than NMEA allows: not a sentence
            return _NONE
        b[n] = byte
        self._n = n + 1
        return _NONE

    def _sentence(self, n):
        b = self._buf
        if n < 9 or b[n - 3] != 0x2A:  # "*" and two checksum digits end every sentence we use
            return _NONE
        s = 0
        for i in range(1, n - 3):
            s ^= b[i]
        hi = _hex(b[n - 2])
        lo = _hex(b[n - 1])
        if hi < 0 or lo < 0 or (hi << 4 | lo) != s:
            self._reader.bad += 1
            return _NONE
        if b[1] != 0x47:  # "G": a GNSS talker
            return _NONE
        nf = self._split(n - 3)
        t = b[3] << 16 | b[4] << 8 | b[5]
        if t == 0x474741 and nf >= 9:  # GGA
            return self._parse_gga()
        if t == 0x524D43 and nf >= 10:  # RMC
            return self._parse_rmc()
        return _NONE

    def _split(self, end):
        c = self._comma
        nf = 0
        for i in range(6, end):
            if self._buf[i] == 0x2C and nf < _MAX_FIELDS:
                c[nf] = i + 1
                nf += 1
        c[nf] = end + 1
        return nf

    def _field(self, k):
        """(start, end) of field k (1-based, as NMEA numbers them)."""
        return self._comma[k - 1], self._comma[k] - 1

    def _number(self, k, places):
        """Field k as an integer scaled by 10**places (extra decimals truncated); -1 when empty."""
        a, e = self._field(k)
        if a >= e:
            return -1
        b = self._buf
        v = 0
        frac = -1
        for i in range(a, e):
            c = b[i]
            if c == 0x2E:
                if frac >= 0:
                    return -2
                frac = 0
                continue
            if not 48 <= c <= 57:
                return -2
            if frac >= 0:
                if frac == places:
                    continue
                frac += 1
            v = v * 10 + c - 48
        for _ in range(places - max(frac, 0)):
            v *= 10
        return v

    def _angle(self, k, max_deg):
        """ddmm.mmmm field k and its hemisphere k+1 -> micro-degrees; None when empty or bad."""
        v = self._number(k, 4)  # minutes to 1e-4 (0.2 m): receivers send 4 or 5 decimals
        if v < 0:
            return None
        deg = v // 1000000
        minutes_e4 = v % 1000000
        if deg > max_deg or minutes_e4 >= 600000:
            return None
        e6 = deg * 1000000 + (minutes_e4 * 100 + 30) // 60
        if e6 > max_deg * 1000000:
            return None
        a, _ = self._field(k + 1)
        h = self._buf[a]
        if h == 0x53 or h == 0x57:  # S, W
            return -e6
        return e6 if h == 0x4E or h == 0x45 else None

    def _parse_gga(self):
        g = self._gga
        g[0] = self._number(1, 2)
        q = self._number(6, 0)
        g[1] = q if q > 0 else 0
        g[2] = max(self._number(7, 0), 0)
        g[3] = self._number(8, 2)
        lat = self._angle(2, 90)
        lon = self._angle(4, 180)
        if g[1] and (lat is None or lon is None):
            g[1] = -1  # a fix claimed with an unreadable position
        g[4] = lat or 0
        g[5] = lon or 0
        return _GGA

    def _parse_rmc(self):
        r = self._rmc
        r[0] = self._number(1, 2)
        a, _ = self._field(2)
        r[1] = self._buf[a] == 0x41  # "A"
        r[2] = self._number(9, 0)
        return _RMC

    # -- public API --

    def read(self):
        """{'latitude': deg, 'longitude': deg} of the next fix; NoFix without one."""
        self._gga[0] = -1  # sentences of an earlier second never pair with new ones
        self._rmc[0] = -2
        self._reader.drain()
        self._reader.wait(_EPOCH, self._buf, 0, None, self._timeout_ms)
        g = self._gga
        r = self._rmc
        if g[1] < 0:
            raise InvalidValue("GNSS: GGA claims a fix with an unreadable position")
        self.quality = g[1]
        self.satellites = g[2]
        self.hdop = g[3] / 100.0 if g[3] >= 0 else None
        if g[1] == 0 or not r[1]:
            self.time = None
            raise NoFix("GNSS: no fix (quality %d, status %s)" % (g[1], "A" if r[1] else "V"))
        self.time = self._unix(g[0], r[2])
        return {"latitude": g[4] / 1000000.0, "longitude": g[5] / 1000000.0}

    def _unix(self, time_cs, date):
        if time_cs < 0 or date < 0:
            return None
        s = time_cs // 100
        d = date // 10000
        m = (date // 100) % 100
        y = date % 100
        y += 2000 if y < 80 else 1900  # RMC has two year digits: 1980-2079
        if not (1 <= d <= 31 and 1 <= m <= 12):
            return None
        return _days_from_civil(y, m, d) * 86400 + (s // 10000) * 3600 + (s // 100 % 100) * 60 + s % 100

    def sleep(self):
        """Nothing sent: receivers differ in their standby commands; the board switches power."""

    def wake(self):
        """Nothing sent: see sleep()."""
