# The vocabulary of measured quantities: one name, one unit, one valid range each.
# Names are never renamed; new quantities get new wire indexes (docs/payload.md).
#
# Each row: (name, unit, wire index, struct code, num, den, lo, hi)
#   wire index  bit of the payload presence bitmap (7 bits a bitmap byte, commonest first)
#   struct code little-endian width of the wire value: "B" u8, "H" u16, "h" s16, "i" s32
#   num/den     wire step: value = raw * num / den (the resolutions of DESIGN.md)
#   lo..hi      valid range of the quantity, inclusive, in its unit
QUANTITIES = (
    ("pm2_5", "ug/m3", 0, "H", 1, 10, 0.0, 5000.0),
    ("pm10", "ug/m3", 1, "H", 1, 10, 0.0, 5000.0),
    ("temperature", "Cel", 2, "h", 1, 100, -60.0, 100.0),
    ("humidity", "%RH", 3, "B", 1, 2, 0.0, 100.0),
    ("laeq", "dB", 4, "H", 1, 10, 0.0, 200.0),
    ("count_in", "count", 5, "H", 1, 1, 0.0, 65535.0),
    ("count_out", "count", 6, "H", 1, 1, 0.0, 65535.0),
    ("pm1", "ug/m3", 7, "H", 1, 10, 0.0, 5000.0),
    ("pm4", "ug/m3", 8, "H", 1, 10, 0.0, 5000.0),
    ("pressure", "Pa", 9, "H", 10, 1, 30000.0, 110000.0),
    ("lamin", "dB", 10, "H", 1, 10, 0.0, 200.0),
    ("lamax", "dB", 11, "H", 1, 10, 0.0, 200.0),
    ("l10", "dB", 12, "H", 1, 10, 0.0, 200.0),
    ("l50", "dB", 13, "H", 1, 10, 0.0, 200.0),
    ("l90", "dB", 14, "H", 1, 10, 0.0, 200.0),
    # ranging, fill level, flood watch, lighting and mobile nodes. distance: what a ranging sensor
    # measures, 1 mm steps; water_level: metres above the node's datum (negative below it);
    # illuminance: 0.1 lx steps over starlight to direct sun (VEML7700 reads up to ~120 klx);
    # latitude/longitude: WGS84 degrees in 1e-5 steps (about 1.1 m), units of RFC 8428 §12.1
    ("distance", "m", 15, "H", 1, 1000, 0.0, 65.0),
    ("fill_level", "%", 16, "B", 1, 2, 0.0, 100.0),
    ("water_level", "m", 17, "h", 1, 1000, -30.0, 30.0),
    ("illuminance", "lx", 18, "i", 1, 10, 0.0, 200000.0),
    ("latitude", "lat", 19, "i", 1, 100000, -90.0, 90.0),
    ("longitude", "lon", 20, "i", 1, 100000, -180.0, 180.0),
)

# Human-readable units. The platform sees the units above, except ug/m3, which the gateway publishes
# in the primary SenML unit kg/m3 (gateway/forward/senml.py, docs/platform.md).
DISPLAY_UNITS = {
    "ug/m3": "µg/m³",
    "Cel": "°C",
    "%RH": "%RH",
    "dB": "dB(A)",
    "Pa": "Pa",
    "count": "count",
    "m": "m",
    "%": "%",
    "lx": "lx",
    "lat": "° N",
    "lon": "° E",
}

BY_NAME = {}
BY_INDEX = {}
for _q in QUANTITIES:
    BY_NAME[_q[0]] = _q
    BY_INDEX[_q[2]] = _q
del _q

NAMES = tuple(q[0] for q in QUANTITIES)

# Keys of a reading dict that are not quantities.
META_KEYS = ("seq", "t")


def unit(name):
    """SenML unit of a quantity; KeyError for a name outside the vocabulary."""
    return BY_NAME[name][1]


def valid_range(name):
    q = BY_NAME[name]
    return q[6], q[7]


def resolution(name):
    q = BY_NAME[name]
    return q[4] / q[5]


def in_range(name, value):
    q = BY_NAME[name]
    return q[6] <= value <= q[7]
