"""Alerts on the data: silent devices, values outside their physical range, stuck values, spikes,
PM measured in humid air, a flood level or a full container; and on the gateway: disk nearly full,
backhaul down, evictions.

Pure logic, no I/O: ``observe`` takes committed readings, ``tick`` looks at time and gateway
state; both return Alert objects that the health service publishes. Ranges and resolutions come
from edge.vocab. An alert that has a condition (silent, stuck, disk, backhaul) is raised once and
cleared once when the condition ends; event alerts (out of range, spike) are raised per event,
rate-limited to one per device and quantity per ``EVENT_HOLD_S``.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

from edge import vocab
from gateway.config import AlertsSection

EVENT_HOLD_S = 3600.0
PM = ("pm1", "pm2_5", "pm4", "pm10")
MAX_NAMED = 5  # devices named in one readings_evicted alert
_WINDOW = 15  # recent values kept per device and quantity for the spike test


@dataclass(frozen=True)
class Alert:
    alert: str
    state: str  # "raised" or "cleared"
    at: int
    message: str
    device: str | None = None
    quantity: str | None = None
    value: float | None = None
    t: int | None = None
    count: int | None = None

    def to_json(self) -> bytes:
        doc = {k: v for k, v in self.__dict__.items() if v is not None}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class _Series:
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    same: int = 0
    stuck: bool = False
    level_t: int = -1  # time of the newest value a level alert looked at: backfill cannot undo it


@dataclass
class _Device:
    last_seen: float = 0.0
    last_t: int | None = None
    interval: float | None = None
    silent: bool = False
    rssi: float | None = None
    snr: float | None = None
    series: dict[str, _Series] = field(default_factory=dict)


class AlertEngine:
    def __init__(self, settings: AlertsSection) -> None:
        self.s = settings
        self.devices: dict[str, _Device] = {}
        self._held: dict[tuple[str, str, str], float] = {}
        self._active: set[tuple[str, str]] = set()  # (alert, subject) of raised conditions
        # quantity -> (alert, limit): conditions on the newest value of a device
        self._levels = {"water_level": ("flood_level", settings.flood_level_m),
                        "fill_level": ("container_full", settings.container_full_pct)}  # fmt: skip

    # -- readings -----------------------------------------------------------------------------
    def observe(
        self,
        dev_eui: str,
        readings: list[tuple[int, int, dict[str, float]]],
        now: float,
        rssi: float | None = None,
        snr: float | None = None,
    ) -> list[Alert]:
        d = self.devices.get(dev_eui)
        if d is None:
            d = self.devices[dev_eui] = _Device()
        out: list[Alert] = []
        d.last_seen = now
        if rssi is not None:
            d.rssi, d.snr = rssi, snr
        if d.silent:
            d.silent = False
            out += self._clear("device_silent", dev_eui, now, "device %s is sending again" % dev_eui, device=dev_eui)
        for _, t, values in sorted(readings, key=_time) if len(readings) > 1 else readings:
            if d.last_t is not None and t > d.last_t:
                step = t - d.last_t
                d.interval = step if d.interval is None else 0.8 * d.interval + 0.2 * step
            if d.last_t is None or t > d.last_t:
                d.last_t = t
            for name, value in values.items():
                self._value(dev_eui, d, name, value, t, now, out)
            hum = values.get("humidity")
            if hum is not None and hum > self.s.pm_humidity_limit and any(q in values for q in PM):
                out += self._event(
                    "pm_high_humidity", dev_eui, "pm", now, t=t, value=hum, quantity="humidity",
                    message="PM of %s measured at %.1f %%RH (above %.0f): optical PM over-reads"
                    % (dev_eui, hum, self.s.pm_humidity_limit),
                )  # fmt: skip
        return out

    def _value(self, dev: str, d: _Device, name: str, value: float, t: int, now: float, out: list[Alert]) -> None:
        """Check one value, adding its alerts to out (not a list per value: three a reading, the usual
        ones raise nothing)."""
        q = _QUANTITY.get(name)
        if q is not None and not q[0] <= value <= q[1]:
            out += self._event(
                "out_of_range", dev, name, now, t=t, value=value, quantity=name,
                message="%s of %s = %s outside its physical range %s..%s" % (name, dev, value, q[0], q[1]),
            )  # fmt: skip
        ser = d.series.get(name)
        if ser is None:
            ser = d.series[name] = _Series()
        recent = ser.recent
        if recent and value == recent[-1]:
            ser.same += 1
        else:
            ser.same = 1
            if ser.stuck:
                ser.stuck = False
                out += self._clear("stuck_value", "%s/%s" % (dev, name), now, "%s of %s changes again" % (name, dev),
                                   device=dev, quantity=name)  # fmt: skip
        if ser.same >= self.s.stuck_count and not ser.stuck and not _counter(name):
            ser.stuck = True
            out += self._raise(
                "stuck_value", "%s/%s" % (dev, name), now, device=dev, quantity=name, value=value, t=t,
                message="%s of %s reads %s in %d readings in a row" % (name, dev, value, ser.same),
            )  # fmt: skip
        limit = self._levels.get(name)
        if limit is not None and t >= ser.level_t:
            ser.level_t = t
            out += self._level(dev, name, value, t, now, limit)
        floor = q[2] if q is not None else 0.0
        if len(recent) >= 5 and floor and abs(value - recent[-1]) > 3 * floor:
            # only a value far from the previous one can be a spike: the medians are for those
            ordered = sorted(recent)
            med = _median(ordered)
            off = abs(value - med)
            mad = self.s.spike_mad
            # the MAD only when the value is far from the median too (both conditions must hold) and
            # beyond what the MAD's lower bound already answers (the usual moving value)
            if (
                off > 3 * floor
                and off > max(mad * _mad_at_least(ordered, med), floor)
                and off > max(mad * _median(sorted([abs(x - med) for x in recent])), floor)
            ):
                out += self._event(
                    "spike", dev, name, now, t=t, value=value, quantity=name,
                    message="%s of %s jumped to %s (recent median %s)" % (name, dev, value, med),
                )  # fmt: skip
        recent.append(value)

    def _level(self, dev: str, name: str, value: float, t: int, now: float, limit: tuple[str, float]) -> list[Alert]:
        alert, above = limit
        subject = "%s/%s" % (dev, name)
        if value > above:
            return self._raise(alert, subject, now, device=dev, quantity=name, value=value, t=t,
                               message="%s of %s is %s, above %s" % (name, dev, value, above))  # fmt: skip
        return self._clear(alert, subject, now, "%s of %s back to %s (limit %s)" % (name, dev, value, above),
                           device=dev, quantity=name, value=value, t=t)  # fmt: skip

    # -- time and gateway state -----------------------------------------------------------------------
    def tick(
        self,
        now: float,
        *,
        disk_fraction: float | None = None,
        disconnected_since: float | None = None,
        evicted: dict[str, int] | None = None,
        disk_full: bool | None = None,
    ) -> list[Alert]:
        out: list[Alert] = []
        for eui, d in self.devices.items():
            interval = d.interval or self.s.default_interval_s
            if not d.silent and now - d.last_seen > self.s.silent_intervals * interval:
                d.silent = True
                out += self._raise(
                    "device_silent", eui, now, device=eui,
                    message="no data from %s for %.0f s (about %.0f intervals of %.0f s)"
                    % (eui, now - d.last_seen, (now - d.last_seen) / interval, interval),
                )  # fmt: skip
        if disk_fraction is not None:
            if disk_fraction >= self.s.disk_full_fraction:
                msg = "buffer disk at %.0f %% of what it may use" % (100 * disk_fraction)
                out += self._raise("disk_nearly_full", "disk", now, message=msg)
            elif disk_fraction < self.s.disk_full_fraction * 0.95:
                out += self._clear(
                    "disk_nearly_full", "disk", now, "buffer disk back to %.0f %%" % (100 * disk_fraction)
                )
        if disconnected_since is not None and now - disconnected_since >= self.s.backhaul_down_s:
            out += self._raise("backhaul_down", "broker", now,
                               message="broker unreachable for %.0f s" % (now - disconnected_since))  # fmt: skip
        elif disconnected_since is None:
            out += self._clear("backhaul_down", "broker", now, "broker reachable again")
        if disk_full:
            msg = "disk full: oldest readings evicted to keep receiving, counter file writes skipped"
            out += self._raise("disk_full", "disk", now, message=msg)
        elif disk_full is not None:
            out += self._clear("disk_full", "disk", now, "disk no longer full")
        if evicted:  # one alert per check, however many devices lost readings
            n = sum(evicted.values())
            worst = sorted(evicted, key=lambda eui: -evicted[eui])
            msg = "%d readings of %d devices evicted (quota, age or full disk), most of %s" % (
                n,
                len(evicted),
                ", ".join(worst[:MAX_NAMED]),
            )
            out.append(Alert("readings_evicted", "raised", int(now), msg, device=worst[0] if len(worst) == 1 else None,
                             count=n))  # fmt: skip
        return out

    # -- helpers -------------------------------------------------------------------------------------
    def _raise(self, alert: str, subject: str, now: float, message: str, **kw: object) -> list[Alert]:
        if (alert, subject) in self._active:
            return []
        self._active.add((alert, subject))
        return [Alert(alert, "raised", int(now), message, **kw)]  # type: ignore[arg-type]

    def _clear(self, alert: str, subject: str, now: float, message: str, **kw: object) -> list[Alert]:
        if (alert, subject) not in self._active:
            return []
        self._active.discard((alert, subject))
        return [Alert(alert, "cleared", int(now), message, **kw)]  # type: ignore[arg-type]

    def _event(self, alert: str, dev: str, key: str, now: float, message: str, **kw: object) -> list[Alert]:
        held = self._held.get((alert, dev, key))
        if held is not None and now - held < EVENT_HOLD_S:
            return []
        self._held[(alert, dev, key)] = now
        return [Alert(alert, "raised", int(now), message, device=dev, **kw)]  # type: ignore[arg-type]


# quantity -> (lowest valid, highest valid, spike floor: ten steps of its wire resolution), from edge.vocab
_QUANTITY = {name: (*vocab.valid_range(name), 10 * vocab.resolution(name)) for name in vocab.BY_NAME}


def _median(xs: list[float]) -> float:
    """Median of a sorted, non-empty list (statistics.median without its type checks)."""
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _mad_at_least(xs: list[float], med: float) -> float:
    """A lower bound of the median absolute deviation of xs (sorted, med its median), read off xs.

    For an odd count 2m + 1 the MAD is the m-th smallest of the 2m deviations besides the median's
    own 0, m from each side, each side's in order; m of them take at least ceil(m / 2) from one
    side, so the MAD is at least the smaller of the two sides' ceil(m / 2)-th deviations. 0 (no
    bound) for an even count, whose median is a mean."""
    n = len(xs)
    if n % 2 == 0:
        return 0.0
    m = n // 2
    c = (m + 1) // 2
    return min(med - xs[m - c], xs[m + c] - med)


def _time(reading: tuple[int, int, dict[str, float]]) -> int:
    return reading[1]


def _counter(name: str) -> bool:
    # counts of people or bikes are often 0 for hours at night: not a stuck sensor
    return name.startswith("count_")
