"""Radio figures of a run: data-rate distributions, airtime per node-day, busiest sub-band hour."""

from simulator.airstats import AirStats, percentile

H = 3_600_000_000


def test_figures_from_frames():
    a = AirStats()
    # node a: SF12 then SF7 (ADR), one 1.5 s frame straddling the first hour boundary (1 s + 0.5 s)
    a.add("a", 12, 868100000, H - 1_000_000, 1_500_000, None, {})
    a.add("a", 7, 867100000, 2 * H, 60_000, None, {})
    # node b: 37 s in one hour on 868.1 MHz: over the 1 % (36 s) of the 868.0-868.6 MHz sub-band
    for i in range(37):
        a.add("b", 12, 868100000, 3 * H + i * 60_000_000, 1_000_000, "collision" if i == 0 else None,
              {"north": "collision", "south": "out_of_range"} if i == 0 else {})  # fmt: skip
    s = a.summary(86400, [10.0, 20.0, 30.0, 400.0])
    assert s["sf_at_start"] == {"SF12": 2} and s["sf_at_end"] == {"SF7": 1, "SF12": 1}
    assert s["airtime_s_per_node_day"]["max"] == 37.0 and s["airtime_s_per_node_day"]["mean"] == 19.28
    assert s["busiest_subband_hour"] == {"node": "b", "subband": 2, "hour": 3, "percent": round(3700 / 3600, 4)}
    assert s["nodes_over_duty_cycle_in_an_hour"] == 1
    assert s["frames_lost_to_collision"] == 1 and s["collisions_at_a_concentrator"] == 1
    assert s["latency_s"] == {"readings": 4, "p50": 20.0, "p95": 400.0, "p99": 400.0}
    assert a.band_hour_us[("a", 2, 0)] == 1_000_000 and a.band_hour_us[("a", 2, 1)] == 500_000


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile(list(range(1, 101)), 95) == 95
