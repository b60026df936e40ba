"""The black-box benchmark's trickle: what it sends is what the agent's own parsers accept, spread
over the gateways as the simulator spreads it."""

from bench import agent_blackbox as bb
from bench import pf_loadgen as lg
from edge import payload
from gateway import lorawan
from gateway.udp import header as hdr
from gateway.udp.pull_data import build_pull_data, parse_pull_data
from gateway.udp.push_data import parse_push_data


def test_trickle_sends_every_uplink_once_in_order_over_the_gateways() -> None:
    devs = lg.make_devices(4)
    phys = lg.frames(devs, 10, 1)
    grams = bb.trickle_datagrams(phys, 3, 5)
    assert len(grams) == 3
    by_gateway = []
    for g in grams:
        pushes = [parse_push_data(d, hdr.parse_header(d)) for d in g]
        assert len({p.gateway_eui for p in pushes}) == 1
        by_gateway.append(pushes)
    assert len({p[0].gateway_eui for p in by_gateway}) == 3
    sizes = [len(p.rxpk) for g in by_gateway for p in g]
    assert set(sizes) == {1, 2}
    assert sizes.count(2) == len(sizes) // 5  # every fifth PUSH_DATA carries two
    # round-robin over the gateways restores the order the uplinks were made in
    turns = [by_gateway[n % 3][n // 3] for n in range(sum(map(len, by_gateway)))]
    assert [rx.phy for p in turns for rx in p.rxpk] == phys


def test_pull_data_is_a_keep_alive_of_that_gateway() -> None:
    d = build_pull_data(2, b"\x12\x34", "aa555a0000000002")  # as the trickle sends it
    h = hdr.parse_header(d)
    assert h.ident == hdr.PULL_DATA
    assert parse_pull_data(d, h).gateway_eui == "aa555a0000000002"


def test_relative_frames_carry_relative_readings() -> None:
    devs = lg.make_devices(2)
    for phy, dev in zip(lg.frames(devs, 2, 3, relative=True), devs * 2, strict=True):
        frame = lorawan.parse_phy(phy)
        assert isinstance(frame, lorawan.DataFrame)
        plain = frame.decrypt(dev.nwkskey, dev.appskey, frame.fcnt16)
        assert payload.is_relative(plain)
