"""The radio model: link budget, SF choice, airtime, collisions with capture, demodulator limit, loss."""

import dataclasses

import pytest

from edge import lora
from simulator.radio import SNR_FLOOR_DB, RadioChannel
from simulator.scenario import Concentrator, Node, Radio


def node(name, x, sf=None, power=14.0):
    return Node(name, "00" * 8, "00" * 4, "00" * 16, "00" * 16, "pico-w", ("sht3x",), 300, x, 0.0, sf, power)


CONC = (Concentrator("c", "00" * 8, 0.0, 0.0),)
QUIET = Radio(shadowing_sigma_db=0.0, fading_sigma_db=0.0)


def test_rssi_falls_with_distance_by_the_exponent():
    ch = RadioChannel(QUIET, (node("a", 10), node("b", 100)), CONC, seed=1)
    a, b = (ch.mean_rssi(ch.nodes[n], CONC[0]) for n in "ab")
    assert abs((a - b) - 10 * QUIET.path_loss_exponent) < 1e-9
    assert abs(a - (14 + 3 - 40 - 10 * 2.9)) < 1e-9


def test_shadowing_is_seeded_per_link():
    r = Radio(shadowing_sigma_db=8.0)
    n = tuple(node("n%d" % i, 500) for i in range(20))
    one, two, other = RadioChannel(r, n, CONC, 1), RadioChannel(r, n, CONC, 1), RadioChannel(r, n, CONC, 2)
    rssi = [[ch.mean_rssi(x, CONC[0]) for x in n] for ch in (one, two, other)]
    assert rssi[0] == rssi[1] and rssi[0] != rssi[2] and len(set(rssi[0])) == 20


def test_auto_sf_grows_with_distance_and_keeps_margin():
    nodes = tuple(node("n%d" % d, d) for d in (50, 500, 1500, 3000, 20000))
    ch = RadioChannel(QUIET, nodes, CONC, 1)
    sfs = [ch.sf[n.name] for n in nodes]
    assert sfs == sorted(sfs) and sfs[0] == 7 and sfs[-1] == 12
    for n in (n for n in nodes if ch.sf[n.name] < 12):
        assert ch.mean_rssi(n, CONC[0]) - ch.noise_floor_dbm >= SNR_FLOOR_DB[ch.sf[n.name]] + QUIET.sf_margin_db


def test_airtime_from_edge_lora():
    ch = RadioChannel(QUIET, (node("a", 10, sf=9),), CONC, 1)
    f = ch.transmit("a", bytes(13), 868100000, 0)
    assert f.airtime_us == lora.time_on_air_us(13, 9, 125000) == 164864


def test_overlap_same_sf_and_freq_collides_unless_captured():
    nodes = (node("near", 100, sf=7), node("far", 150, sf=7), node("weak", 1000, sf=7))
    ch = RadioChannel(QUIET, nodes, CONC, 1)
    ch.transmit("near", bytes(20), 868100000, 0)
    ch.transmit("far", bytes(20), 868100000, 10_000)  # ~5 dB weaker: both lost
    a, b = ch.settle(10_000_000)
    assert a.losses == {"c": "collision"} and b.losses == {"c": "collision"}
    assert not a.delivered and a.loss_reason() == "collision"
    ch.transmit("near", bytes(20), 868100000, 20_000_000)
    ch.transmit("weak", bytes(20), 868100000, 20_010_000)  # 29 dB weaker: the strong one is captured
    strong, weak = ch.settle(30_000_000)
    assert strong.delivered and weak.losses == {"c": "collision"}


def test_no_collision_on_other_frequency_other_sf_or_no_overlap():
    nodes = (node("a", 100, sf=7), node("b", 150, sf=7), node("c", 150, sf=8))
    ch = RadioChannel(QUIET, nodes, CONC, 1)
    ch.transmit("a", bytes(20), 868100000, 0)
    ch.transmit("b", bytes(20), 868300000, 0)
    ch.transmit("c", bytes(20), 868100000, 0)
    f = ch.transmit("b", bytes(20), 868100000, 0)
    f.start_us = 1_000_000  # frames submitted in order: this one starts after the others ended
    assert all(x.delivered for x in ch.settle(5_000_000))


def test_frames_may_arrive_out_of_order_until_settled():
    ch = RadioChannel(QUIET, (node("a", 100, sf=7), node("b", 100, sf=8)), CONC, 1)
    late = ch.transmit("a", bytes(20), 868100000, 500_000)
    early = ch.transmit("b", bytes(20), 868100000, 100_000)
    assert ch.settle(2_000_000) == [early, late]
    with pytest.raises(ValueError):
        ch.transmit("a", bytes(20), 868100000, 1_999_999)


def test_frames_settle_only_when_ended():
    ch = RadioChannel(QUIET, (node("a", 100, sf=12),), CONC, 1)
    f = ch.transmit("a", bytes(30), 868100000, 0)
    assert ch.settle(f.end_us - 1) == [] and ch.settle(f.end_us) == [f]


def test_demodulator_limit():
    nodes = tuple(node("n%d" % i, 100 + i, sf=7) for i in range(10))
    ch = RadioChannel(dataclasses.replace(QUIET, demodulators=8), nodes, CONC, 1)
    for i, n in enumerate(nodes):  # ten frames at once on ten distinct frequencies
        ch.transmit(n.name, bytes(20), 867100000 + i * 200000, i)
    ch.concentrators = (Concentrator("c", "00" * 8, 0, 0, tuple(867100000 + i * 200000 for i in range(10))),)
    frames = ch.settle(10_000_000)
    assert [f.delivered for f in frames] == [True] * 8 + [False] * 2
    assert frames[-1].losses == {"c": "demodulators_busy"}


def test_out_of_range_and_random_loss_rate():
    ch = RadioChannel(QUIET, (node("far", 10**6, sf=12),), CONC, 1)
    ch.transmit("far", bytes(20), 868100000, 0)
    assert ch.settle(10**8)[0].loss_reason() == "out_of_range"
    lossy = RadioChannel(dataclasses.replace(QUIET, loss_probability=0.2), (node("a", 100, sf=7),), CONC, 5)
    for i in range(2000):
        lossy.transmit("a", bytes(20), 868100000, i * 1_000_000)
    frames = lossy.settle(10**10)
    lost = sum(not f.delivered for f in frames)
    assert 320 < lost < 480 and all(f.loss_reason() == "random_loss" for f in frames if not f.delivered)
