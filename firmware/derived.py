# Values a node derives from a ranging sensor (docs/firmware.md "Derived values"):
#   echoes     N readings a sample (1..15); the median of the valid ones, then only the echoes
#              within reject_m of it: ultrasonic sensors hear rain, leaves and birds, which read
#              short. A sample needs a majority of consistent echoes, else it is a fault.
#   fill       {"depth_m": d, "offset_m": o}: a container whose usable depth d starts o below the
#              sensor face; fill_level = 100 x (d - (distance - o)) / d, clipped to 0..100 %.
#   water      {"sensor_m": s, "datum_m": z}: elevations (same reference, e.g. NGF) of the sensor
#              face and of the gauge datum; water_level = (s - z) - distance above the datum.
#              A datum at or above the sensor is refused at validation.
from micropython import const

MAX_ECHOES = const(15)
DEFAULT_REJECT_M = 0.05  # echoes farther than this from the median are outliers


def _number(problems, where, d, key, lo=None):
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or (lo is not None and v < lo):
        problems.append("%s.%s must be a number%s" % (where, key, "" if lo is None else " >= %r" % lo))
        return None
    return float(v)


def parse(problems, where, entry, quantities):
    """The derived-value settings of one sensor entry of the config, checked; {} when none."""
    out = {}
    keys = ("echoes", "reject_m", "fill", "water")
    present = [k for k in keys if k in entry]
    if not present:
        return out
    if "distance" not in quantities:
        problems.append("%s: %s only apply to a ranging sensor" % (where, ", ".join(present)))
        return out
    n = entry.get("echoes", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ECHOES:
        problems.append("%s.echoes must be an integer 1..%d" % (where, MAX_ECHOES))
        n = 1
    out["echoes"] = n
    reject = _number(problems, where, entry, "reject_m", 0.0) if "reject_m" in entry else None
    out["reject_m"] = DEFAULT_REJECT_M if reject is None else reject
    if "fill" in entry and "water" in entry:
        problems.append("%s: a sensor measures either fill or water, not both" % where)
    f = entry.get("fill")
    if f is not None:
        if not isinstance(f, dict):
            problems.append("%s.fill must be {depth_m, offset_m}" % where)
        else:
            depth = _number(problems, where + ".fill", f, "depth_m", 0.0)
            offset = _number(problems, where + ".fill", f, "offset_m", 0.0)
            if depth is not None and depth <= 0:
                problems.append("%s.fill.depth_m must be above 0" % where)
            elif depth is not None and offset is not None:
                out["fill"] = (depth, offset)
    w = entry.get("water")
    if w is not None:
        if not isinstance(w, dict):
            problems.append("%s.water must be {sensor_m, datum_m}" % where)
        else:
            sensor = _number(problems, where + ".water", w, "sensor_m")
            datum = _number(problems, where + ".water", w, "datum_m")
            if sensor is not None and datum is not None:
                if datum >= sensor:
                    problems.append(
                        "%s.water: the datum (%r m) must be below the sensor (%r m)" % (where, datum, sensor)
                    )
                else:
                    out["water"] = (sensor - datum,)
    return out


def robust_distance(echoes, n, reject_m):
    """The median of the first n valid echoes, refined to the mean of those within reject_m of it.

    echoes: a list, sorted here in place. None when fewer than a majority (n // 2 + 1) agree."""
    need = n // 2 + 1
    if len(echoes) < need:
        return None
    echoes.sort()
    k = len(echoes)
    med = echoes[k // 2] if k % 2 else (echoes[k // 2 - 1] + echoes[k // 2]) / 2
    total = 0.0
    good = 0
    for d in echoes:
        if -reject_m <= d - med <= reject_m:
            total += d
            good += 1
    if good < need:
        return None
    return total / good


def fill_level(distance, depth, offset):
    v = 100.0 * (depth - (distance - offset)) / depth
    return 0.0 if v < 0.0 else (100.0 if v > 100.0 else v)


def water_level(distance, height):
    """height: the sensor face above the datum."""
    return height - distance


def apply(settings, values):
    """Add fill_level / water_level to a sensor's values that carry a distance."""
    d = values.get("distance")
    if d is None:
        return values
    f = settings.get("fill")
    if f is not None:
        values["fill_level"] = fill_level(d, f[0], f[1])
    w = settings.get("water")
    if w is not None:
        values["water_level"] = water_level(d, w[0])
    return values


def quantities(settings):
    """The quantities these settings add."""
    if "fill" in settings:
        return ("fill_level",)
    if "water" in settings:
        return ("water_level",)
    return ()
