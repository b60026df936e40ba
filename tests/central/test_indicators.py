"""Indicators against figures computed by hand (the arithmetic is in the comments)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from central import indicators as ind

PARIS = ZoneInfo("Europe/Paris")


def at(y, mo, d, h, mi=0):
    """Unix time of a Paris wall-clock time."""
    return int(datetime(y, mo, d, h, mi, tzinfo=PARIS).timestamp())


def test_energetic_mean_is_not_the_arithmetic_one():
    # 10·lg((10^2 + 10^5 + 10^8)/3) = 10·lg(33_366_700) = 75.23
    assert ind.energetic_mean([20, 50, 80]) == pytest.approx(75.23, abs=0.01)
    assert ind.energetic_mean([]) is None


def test_lden_summer_day_by_hand():
    samples = [
        (at(2026, 6, 15, 8), 60.0), (at(2026, 6, 15, 18, 59), 70.0),  # day: 10·lg((1e6+1e7)/2) = 67.40
        (at(2026, 6, 15, 19), 60.0),                                   # evening: 60.0
        (at(2026, 6, 15, 23, 30), 50.0), (at(2026, 6, 16, 6, 59), 50.0),  # night of the 15th: 50.0
        (at(2026, 6, 16, 7), 55.0),                                    # day of the 16th
    ]
    first, second = ind.noise_days(samples)
    assert (first["date"], first["lday"], first["levening"], first["lnight"]) == ("2026-06-15", 67.4, 60.0, 50.0)
    # Lden = 10·lg((12·5.5e6 + 4·10^6.5 + 8·10^6)/24) = 10·lg(86_649_111/24) = 10·lg(3_610_380) = 65.58
    assert first["lden"] == 65.6
    assert (first["n_day"], first["n_evening"], first["n_night"]) == (2, 1, 2)
    # The 16th has no evening or night: no Lden rather than a figure from a part of the day.
    assert second["date"] == "2026-06-16" and second["lday"] == 55.0 and second["lden"] is None


def test_lden_all_periods_equal_adds_the_penalties():
    # L everywhere 60: 10·lg((12·1e6 + 4·10^6.5 + 8·1e7)/24) = 10·lg(105_649_111/24) = 66.44
    samples = [(at(2026, 1, 5, h), 60.0) for h in (7, 12, 18, 19, 22, 23)] + [(at(2026, 1, 6, 3), 60.0)]
    (day,) = [d for d in ind.noise_days(samples) if d["date"] == "2026-01-05"]
    assert day["lden"] == 66.4


def test_pm_daily_mean_needs_75_percent_of_hours():
    # 17 hours at 20.0 and one hour with 10 and 20 (hourly mean 15): 18 of 24 hours = 75 %.
    # Daily mean = (17·20 + 15)/18 = 355/18 = 19.72 > 15 (PM2.5 guideline), < 45 (PM10).
    samples = [(at(2026, 1, 10, h, 30), 20.0) for h in range(17)]
    samples += [(at(2026, 1, 10, 20, 5), 10.0), (at(2026, 1, 10, 20, 55), 20.0)]
    (pm25,) = ind.pm_days(samples, "pm2_5")
    assert (pm25["mean"], pm25["hours"], pm25["hours_in_day"], pm25["valid"], pm25["exceeds"]) == (
        19.7, 18, 24, True, True)
    (pm10,) = ind.pm_days(samples, "pm10")
    assert pm10["exceeds"] is False and pm10["guideline"] == 45.0
    # One hour fewer: 17/24 < 75 %, no mean and no exceedance.
    (short,) = ind.pm_days(samples[1:], "pm2_5")
    assert (short["valid"], short["mean"], short["exceeds"]) == (False, None, False)
    assert ind.exceedance_days([pm25, short]) == 1


def test_pm_daylight_saving_days_have_23_and_25_hours():
    assert ind.hours_in_day(datetime(2026, 3, 29).date(), PARIS) == 23
    assert ind.hours_in_day(datetime(2026, 10, 25).date(), PARIS) == 25
    # 23-hour day: 17 hours < 0.75·23 = 17.25, 18 hours are enough.
    base = int(datetime(2026, 3, 28, 23, tzinfo=ZoneInfo("UTC")).timestamp())  # 00:00 CET on the 29th
    samples = [(base + 3600 * i, 30.0) for i in range(18)]
    (day,) = ind.pm_days(samples, "pm2_5")
    assert (day["date"], day["hours_in_day"], day["hours"], day["valid"]) == ("2026-03-29", 23, 18, True)
    (short,) = ind.pm_days(samples[:17], "pm2_5")
    assert short["valid"] is False
    # 25-hour day: the two 02:00 hours are two hours.
    autumn = int(datetime(2026, 10, 24, 22, tzinfo=ZoneInfo("UTC")).timestamp())  # 00:00 CEST on the 25th
    hours = ind.hourly_means([(autumn + 3600 * i, 1.0) for i in range(25)])
    assert len(hours) == 25 and {h.date().isoformat() for h, _ in hours} == {"2026-10-25"}


def test_pm_unknown_quantity_is_a_clear_error():
    with pytest.raises(ValueError, match="no WHO 24-hour guideline"):
        ind.pm_days([], "pm1")


def test_counts_per_hour_and_day():
    samples = [(at(2026, 6, 1, 8, 5), 3), (at(2026, 6, 1, 8, 50), 4), (at(2026, 6, 1, 9, 10), 5)]
    sums = ind.count_sums(samples)
    assert sums["hours"] == {"2026-06-01T08:00+02:00": 7, "2026-06-01T09:00+02:00": 5}
    assert sums["days"] == {"2026-06-01": 12}
