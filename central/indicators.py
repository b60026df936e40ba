"""Indicators the noise and air programmes report, computed from the platform's observations.

Pure functions: they take ``(t, value)`` pairs (t in unix seconds, UTC) of one device and one
quantity and return plain dicts, so the HTTP API, the exports and the page share one computation.
Days and hours are local days and hours in ``tz`` (default Europe/Paris, where the programmes
report); a day with a daylight-saving change has 23 or 25 hours.

- Noise (EU Directive 2002/49/EC, Annex I): Lday 07-19, Levening 19-23, Lnight 23-07 (the night
  that starts on the day), each the energetic mean of the LAeq values in the period;
  Lden = 10 lg((12·10^(Ld/10) + 4·10^((Le+5)/10) + 8·10^((Ln+10)/10)) / 24).
  Each LAeq value is placed in the period of its measurement time; values of equal interval
  weigh alike.
- PM (WHO Global Air Quality Guidelines 2021, 24-hour guideline levels 15 µg/m³ PM2.5 and
  45 µg/m³ PM10): a daily mean is the mean of the day's hourly means and is valid when at least
  75 % of the day's hours have one; a day exceeds when its valid mean is above the level.
- Counts: sums per local hour and day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Europe/Paris"

# WHO AQG 2021 (Table 0.1): 24-hour guideline levels, µg/m³.
WHO_24H = {"pm2_5": 15.0, "pm10": 45.0}
# Share of a day's hours that must have a value for its daily mean to count (as the EU air
# quality directives ask of a daily mean: 75 %).
MIN_HOUR_SHARE = 0.75

# 2002/49/EC Annex I 1: period lengths in hours and their penalties in dB.
DAY_START, EVENING_START, NIGHT_START = 7, 19, 23
WEIGHTS = ((12, 0.0), (4, 5.0), (8, 10.0))


def energetic_mean(levels: Iterable[float]) -> float | None:
    """10·lg(mean(10^(L/10))): 20, 50, 80 dB give 75.2 dB. None for no level."""
    powers = [10.0 ** (lv / 10.0) for lv in levels]
    if not powers:
        return None
    return 10.0 * math.log10(sum(powers) / len(powers))


def local(t: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, UTC).astimezone(tz)


def hours_in_day(day: date, tz: ZoneInfo) -> int:
    """23, 24 or 25: the local day's length in hours."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = start + timedelta(days=1)
    return round((nxt.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600)


def noise_period(t: int, tz: ZoneInfo) -> tuple[date, str]:
    """The directive's (day, period) of a measurement time: night after midnight belongs to the day before."""
    lt = local(t, tz)
    if DAY_START <= lt.hour < EVENING_START:
        return lt.date(), "day"
    if EVENING_START <= lt.hour < NIGHT_START:
        return lt.date(), "evening"
    if lt.hour >= NIGHT_START:
        return lt.date(), "night"
    return lt.date() - timedelta(days=1), "night"


def lden(ld: float, le: float, ln: float) -> float:
    terms = [h * 10.0 ** ((lv + pen) / 10.0) for (h, pen), lv in zip(WEIGHTS, (ld, le, ln), strict=True)]
    return 10.0 * math.log10(sum(terms) / 24.0)


def noise_days(samples: Iterable[tuple[int, float]], tz: str = DEFAULT_TZ) -> list[dict]:
    """Lday, Levening, Lnight and Lden per day from LAeq samples, days in order.

    A period without samples gives None, and so does Lden of that day; ``n_day`` etc. count the
    samples behind each figure so a reader can judge them.
    """
    zone = ZoneInfo(tz)
    periods: dict[date, dict[str, list[float]]] = defaultdict(lambda: {"day": [], "evening": [], "night": []})
    for t, v in samples:
        d, name = noise_period(t, zone)
        periods[d][name].append(v)
    out = []
    for d in sorted(periods):
        p = periods[d]
        ld, le, ln = (energetic_mean(p[k]) for k in ("day", "evening", "night"))
        row = {
            "date": d.isoformat(),
            "lday": _r(ld),
            "levening": _r(le),
            "lnight": _r(ln),
            "lden": _r(lden(ld, le, ln)) if ld is not None and le is not None and ln is not None else None,
            "n_day": len(p["day"]),
            "n_evening": len(p["evening"]),
            "n_night": len(p["night"]),
        }
        out.append(row)
    return out


def hourly_means(samples: Iterable[tuple[int, float]], tz: str = DEFAULT_TZ) -> list[tuple[datetime, float]]:
    """Arithmetic mean per local hour, in time order: (the hour's start in local time, mean)."""
    zone = ZoneInfo(tz)
    acc: dict[int, list[float]] = defaultdict(list)
    for t, v in samples:
        acc[t - t % 3600].append(v)
    return [(local_hour(h, zone), sum(vs) / len(vs)) for h, vs in sorted(acc.items())]


def pm_days(samples: Iterable[tuple[int, float]], quantity: str, tz: str = DEFAULT_TZ) -> list[dict]:
    """Daily means of pm2_5 or pm10 with completeness and the WHO 24-hour exceedance flag."""
    if quantity not in WHO_24H:
        raise ValueError("no WHO 24-hour guideline for %r (known: %s)" % (quantity, ", ".join(WHO_24H)))
    zone = ZoneInfo(tz)
    level = WHO_24H[quantity]
    by_day: dict[date, list[float]] = defaultdict(list)
    for h, hmean in hourly_means(samples, tz):
        by_day[h.date()].append(hmean)
    out = []
    for d in sorted(by_day):
        means = by_day[d]
        hours = hours_in_day(d, zone)
        valid = len(means) >= MIN_HOUR_SHARE * hours
        mean: float | None = sum(means) / len(means) if valid else None
        out.append(
            {
                "date": d.isoformat(),
                "quantity": quantity,
                "mean": _r(mean),
                "hours": len(means),
                "hours_in_day": hours,
                "valid": valid,
                "guideline": level,
                "exceeds": bool(valid and mean is not None and mean > level),
            }
        )
    return out


def exceedance_days(days: list[dict]) -> int:
    return sum(1 for d in days if d["exceeds"])


def count_sums(samples: Iterable[tuple[int, float]], tz: str = DEFAULT_TZ) -> dict[str, dict[str, int]]:
    """Counts summed per local hour ("YYYY-MM-DDTHH:00+01:00") and per local day ("YYYY-MM-DD")."""
    zone = ZoneInfo(tz)
    by_hour: dict[int, int] = defaultdict(int)
    for t, v in samples:
        by_hour[t - t % 3600] += int(v)
    hours: dict[str, int] = {}
    days: dict[str, int] = defaultdict(int)
    for h, n in sorted(by_hour.items()):
        lh = local_hour(h, zone)
        hours[lh.isoformat(timespec="minutes")] = n
        days[lh.date().isoformat()] += n
    return {"hours": hours, "days": dict(days)}


def local_hour(t: int, zone: ZoneInfo) -> datetime:
    # Hours are keyed by their UTC start: a local hour is a UTC hour in every zone with whole-hour
    # offsets, and aware datetimes of one zone compare by wall time, which would merge the two
    # 02:00 hours of an autumn daylight-saving change.
    return datetime.fromtimestamp(t - t % 3600, UTC).astimezone(zone)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
