# Aggregation of an interval: trimmed means, energetic LAeq, percentile levels, sums, ranges.
from firmware.aggregate import Aggregator


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol


def test_pm_trimmed_mean_drops_min_and_max():
    a = Aggregator()
    for v in (10.0, 11.0, 12.0, 13.0, 90.0):
        a.add({"pm2_5": v, "pm10": v + 1})
    r = a.result()
    assert close(r["pm2_5"], 12.0) and close(r["pm10"], 13.0)


def test_pm_with_two_samples_is_a_plain_mean():
    a = Aggregator()
    a.add({"pm2_5": 10.0})
    a.add({"pm2_5": 20.0})
    assert close(a.result()["pm2_5"], 15.0)


def test_laeq_is_the_energetic_mean():
    a = Aggregator()
    for v in (20.0, 50.0, 80.0):
        a.add({"laeq": v, "lamin": v - 3, "lamax": v + 4})
    r = a.result()
    assert abs(r["laeq"] - 75.2) < 0.05  # DESIGN.md: not 50
    assert r["lamin"] == 17.0 and r["lamax"] == 84.0


def test_percentile_levels_match_sorted_samples_within_a_class():
    a = Aggregator()
    samples = [40.0 + 0.5 * ((i * 37) % 100) for i in range(100)]  # 40 .. 89.5, shuffled
    for v in samples:
        a.add({"laeq": v})
    r = a.result()
    s = sorted(samples, reverse=True)
    # Lx: the level exceeded by x % of the periods
    assert abs(r["l10"] - s[9]) <= 0.25 and abs(r["l50"] - s[49]) <= 0.25 and abs(r["l90"] - s[89]) <= 0.25
    assert r["l10"] > r["l50"] > r["l90"]


def test_means_and_counts():
    a = Aggregator()
    for i in range(4):
        a.add({"temperature": 20.0 + i, "humidity": 50.0, "pressure": 101300.0 + 10 * i})
        a.add({"count_in": 3.0, "count_out": 1.0})
    r = a.result()
    assert close(r["temperature"], 21.5) and close(r["pressure"], 101315.0)
    assert r["count_in"] == 12.0 and r["count_out"] == 4.0


def test_reset_starts_a_new_interval_and_missing_sensors_are_absent():
    a = Aggregator()
    a.add({"pm2_5": 10.0, "laeq": 60.0})
    a.reset()
    a.add({"temperature": 5.0})
    assert a.result() == {"temperature": 5.0}


def test_reset_empties_every_class_the_previous_interval_counted():
    a = Aggregator()
    for v in (25.0, 130.0, 60.0, 130.0, 25.0):  # near both ends of the histogram
        a.add({"laeq": v})
    a.reset()
    for v in (50.0, 50.0, 70.0):
        a.add({"laeq": v})
    r = a.result()
    assert r["l10"] == 70.0 and r["l50"] == 50.0 and r["l90"] == 50.0
    a.reset()
    a.add({"laeq": 140.0})  # the top class alone
    a.add({"laeq": 10.0})  # below the histogram: the lowest class
    r = a.result()
    assert r["l10"] == 139.5 and r["l90"] == 20.0


def test_out_of_range_values_are_dropped_and_counted():
    a = Aggregator()
    a.add({"humidity": 140.0, "temperature": 20.0})
    assert a.result() == {"temperature": 20.0} and a.out_of_range == 1
