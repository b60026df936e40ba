"""Radio figures of a run, from every frame the radio model settled: data-rate distribution at the
start and the end, airtime per node and day, the busiest sub-band hour of any node (ETSI EN 300 220
counts duty cycle over an hour; here clock hours of virtual time), collisions, join-requests per node; and the delivery
latency of readings (measurement time to arrival at the platform, in virtual seconds)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from edge import lora

_HOUR_US = 3_600_000_000


def is_join(phy: bytes) -> bool:
    """A join-request: MHDR MType 000 (LoRaWAN 1.0.x §4.2.1)."""
    return bool(phy) and phy[0] >> 5 == 0


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


class AirStats:
    def __init__(self) -> None:
        self.first_sf: dict[str, int] = {}
        self.last_sf: dict[str, int] = {}
        self.airtime_us: dict[str, int] = defaultdict(int)
        self.band_hour_us: dict[tuple[str, int, int], int] = defaultdict(int)  # (node, sub-band, hour) -> us
        self.frames = 0
        self.collided = 0  # frames lost to a collision at every concentrator that could hear them
        self.collisions_at_a_concentrator = 0
        self.join_requests: dict[str, int] = defaultdict(int)  # node -> join-requests it put on air

    def add(self, node: str, sf: int, freq_hz: int, start_us: int, airtime_us: int, lost: str | None,
            losses: dict[str, str], join: bool = False) -> None:  # fmt: skip
        self.frames += 1
        if join:
            self.join_requests[node] += 1
        self.first_sf.setdefault(node, sf)
        self.last_sf[node] = sf
        self.airtime_us[node] += airtime_us
        band = lora.eu868_subband(freq_hz)
        # split the frame over the clock hours it spans
        t, end = start_us, start_us + airtime_us
        while t < end:
            hour = t // _HOUR_US
            part = min(end, (hour + 1) * _HOUR_US) - t
            self.band_hour_us[(node, band, hour)] += part
            t += part
        self.collided += lost == "collision"
        self.collisions_at_a_concentrator += sum(1 for r in losses.values() if r == "collision")

    def summary(self, duration_s: float, latencies_s: list[float]) -> dict[str, Any]:
        days = duration_s / 86400 if duration_s > 0 else 1.0
        per_day = sorted(us / 1e6 / days for us in self.airtime_us.values())
        busiest: dict[str, Any] = {"node": None, "subband": None, "hour": None, "percent": 0.0}
        over = set()
        for (node, band, hour), us in self.band_hour_us.items():
            limit_permille = lora.EU868_SUBBANDS[band][2]
            pct = 100.0 * us / _HOUR_US
            if us * 1000 > _HOUR_US * limit_permille:
                over.add(node)
            if pct > busiest["percent"]:
                busiest = {"node": node, "subband": band, "hour": hour, "percent": round(pct, 4)}
        lat = sorted(latencies_s)

        def dist(d: dict[str, int]) -> dict[str, int]:
            out: dict[str, int] = {}
            for sf in d.values():
                out["SF%d" % sf] = out.get("SF%d" % sf, 0) + 1
            return dict(sorted(out.items(), key=lambda kv: int(kv[0][2:])))

        return {
            "frames": self.frames,
            "sf_at_start": dist(self.first_sf),
            "sf_at_end": dist(self.last_sf),
            "airtime_s_per_node_day": {
                "mean": round(sum(per_day) / len(per_day), 3) if per_day else None,
                "p50": _r(percentile(per_day, 50)),
                "max": _r(per_day[-1] if per_day else None),
            },
            "busiest_subband_hour": busiest,
            "nodes_over_duty_cycle_in_an_hour": len(over),
            "join_requests": {
                "total": sum(self.join_requests.values()),
                "nodes": len(self.join_requests),
                "max_per_node": max(self.join_requests.values(), default=0),
            },
            "frames_lost_to_collision": self.collided,
            "collisions_at_a_concentrator": self.collisions_at_a_concentrator,
            "latency_s": {
                "readings": len(lat),
                "p50": _r(percentile(lat, 50)),
                "p95": _r(percentile(lat, 95)),
                "p99": _r(percentile(lat, 99)),
            },  # fmt: skip
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
