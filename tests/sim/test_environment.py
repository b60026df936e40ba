"""Environment generators: deterministic, shaped like a city day, inside the vocabulary's ranges."""

import dataclasses

from edge import vocab
from simulator.environment import World
from simulator.scenario import Environment, Node

DAY0 = 1763769600  # 2025-11-22 00:00 UTC


def node(name, sensors):
    return Node(name, "00" * 8, "00" * 4, "00" * 16, "00" * 16, "pico-w", sensors, 300, 0, 0, None, 14)


ALL = node("all", ("sps30", "bme280", "dnms", "beam_counter"))


def at(hour):
    return DAY0 + int(hour * 3600)


def test_same_seed_same_values_any_order():
    a, b = World(Environment(), 3), World(Environment(), 3)
    times = [at(h) for h in range(0, 48, 5)]
    forward = [a.sample(ALL, t, 300) for t in times]
    backward = [b.sample(ALL, t, 300) for t in reversed(times)][::-1]
    assert forward == backward
    assert World(Environment(), 4).sample(ALL, times[1], 300) != forward[1]


def mean(f, hours, days=5):
    return sum(f(at(h + 24 * d)) for d in range(days) for h in hours) / (len(hours) * days)


def test_diurnal_shapes():
    w = World(dataclasses.replace(Environment(), humidity_episodes_per_day=0), 1)
    assert mean(lambda t: w.temperature("x", t), [14, 15, 16]) > mean(lambda t: w.temperature("x", t), [4, 5, 6]) + 6
    assert mean(lambda t: w.humidity("x", t), [4, 5]) > mean(lambda t: w.humidity("x", t), [14, 15]) + 15
    assert mean(lambda t: w.pm2_5("x", t), [8, 18]) > 1.8 * mean(lambda t: w.pm2_5("x", t), [3.5, 4])
    assert mean(lambda t: w.laeq("x", t), [8, 17.5]) > mean(lambda t: w.laeq("x", t), [3]) + 15
    assert w.flow_per_hour(at(8), False) > 20 * w.flow_per_hour(at(3), False)


def test_humidity_episodes_saturate():
    w = World(dataclasses.replace(Environment(), humidity_episodes_per_day=3), 9)
    spans = [s for d in range(DAY0 // 86400, DAY0 // 86400 + 5) for s in w.humidity_episodes(d)]
    assert spans and all(3600 <= b - a <= 4 * 3600 for a, b in spans)
    for a, b in spans:
        assert w.humidity("x", (a + b) / 2) >= 90


def test_samples_in_vocabulary_ranges_and_counts_whole():
    w = World(Environment(), 5)
    for h in range(0, 72):
        s = w.sample(ALL, at(h), 300)
        assert set(s) == set(ALL.quantities())
        for q, v in s.items():
            assert vocab.in_range(q, v), (q, v)
        assert (
            s["count_in"] == int(s["count_in"]) and s["lamin"] < s["l90"] < s["l50"] < s["laeq"] < s["l10"] < s["lamax"]
        )
