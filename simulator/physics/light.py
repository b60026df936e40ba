"""Daylight and street lamps: the sun's elevation for the city's latitude and the date, a
clear-sky illuminance from it, clouds drawn per half hour, and a lamp over some sensors.

Sun position: declination and equation of time from the day of the year (the NOAA low-precision
formulas, within about 1 degree, which is plenty for light), hour angle from UTC and longitude.
Clear sky: 126 klx x sin(h) x exp(-0.16 / sin(h)) above the horizon (about 107 klx with the sun
overhead, 9 klx at 10 degrees); civil twilight falls from 400 lx at the horizon by a decade per
2.9 degrees (about 3 lx at -6 degrees) to a dark-sky floor of 0.001 lx. Clouds pass
1 - 0.75 x cover of it (cover per half hour, interpolated). A lamp over the sensor switches on
when the sun is lamp_on_below_deg under the horizon and off when it rises above that again, as
a photocell switching near 20-50 lx would, and adds lamp_lux.
"""

from __future__ import annotations

import math
import random
import time

from simulator.physics.settings import City, Light


def sun_elevation_deg(lat: float, lon: float, t: float) -> float:
    """The sun's elevation above the horizon at unix time t, degrees."""
    tm = time.gmtime(t)
    hour = (t % 86400) / 3600.0
    g = 2 * math.pi / 365.0 * (tm.tm_yday - 1 + (hour - 12) / 24)  # fractional year, radians
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))  # fmt: skip
    eot_min = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                        - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))  # fmt: skip
    minutes = (t % 86400) / 60.0 + eot_min + 4 * lon
    ha = math.radians(minutes / 4 - 180)
    phi = math.radians(lat)
    sin_h = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_h))))


def clear_sky_lux(elevation_deg: float) -> float:
    if elevation_deg > 0:
        s = math.sin(math.radians(elevation_deg))
        return max(400.0, 126000.0 * s * math.exp(-0.16 / s))
    return max(0.001, 400.0 * 10 ** (elevation_deg / 2.9))


class LightModel:
    def __init__(self, s: Light, city: City, seed: int) -> None:
        self.s = s
        self.city = city
        self.seed = seed

    def elevation(self, t: float) -> float:
        return sun_elevation_deg(self.city.latitude, self.city.longitude, t)

    def _cover(self, block: int) -> float:
        c = random.Random("%d:cloud:%d" % (self.seed, block)).gauss(self.s.cloud_cover, 0.25)
        return min(1.0, max(0.0, c))

    def lamp_on(self, t: float) -> bool:
        return self.elevation(t) < -self.s.lamp_on_below_deg

    def illuminance(self, t: float, under_lamp: bool) -> float:
        x = t / 1800.0
        k = math.floor(x)
        cover = self._cover(k) + (self._cover(k + 1) - self._cover(k)) * (x - k)
        lux = clear_sky_lux(self.elevation(t)) * (1 - 0.75 * cover)
        if under_lamp and self.lamp_on(t):
            lux += self.s.lamp_lux
        return lux
