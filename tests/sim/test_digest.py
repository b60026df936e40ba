"""The run's digests: the same results give the same digests in any order, a changed value another."""

from simulator.checker import Ledger
from simulator.digest import digests, lines


def _ledger(values):
    led = Ledger({"a": "0011223344556677", "b": "8899aabbccddeeff"})
    for node, seq, v in values:
        led.generated(node, seq, 1763800000 + 300 * seq, {"temperature": v})
        led.arrivals[(node, "temperature", float(1763800000 + 300 * seq))] = v
    return led


def test_order_does_not_matter_a_value_does():
    frames = [("a", 1000, 868100000, 7, 0, b"\x40\x01"), ("b", 900, 868300000, 9, 2, b"\x40\x02")]
    one = digests(_ledger([("a", 1, 12.5), ("b", 1, 13.0)]), frames)
    two = digests(_ledger([("b", 1, 13.0), ("a", 1, 12.5)]), list(reversed(frames)))
    assert one == two and one["generated_lines"] == 2 and one["delivered_lines"] == 2 and one["frames_lines"] == 2
    other = digests(_ledger([("a", 1, 12.5), ("b", 1, 13.1)]), frames)
    assert other["generated"] != one["generated"] and other["delivered"] != one["delivered"]
    assert other["frames"] == one["frames"]
    moved = digests(_ledger([("a", 1, 12.5), ("b", 1, 13.0)]), [frames[0], ("b", 901, *frames[1][2:])])
    assert moved["frames"] != one["frames"]


def test_lines_name_what_differs():
    led = _ledger([("a", 2, 12.5)])
    led.discard("a", 2, "node_power_loss_before_logging")
    got = lines(led, [("a", 5, 868100000, 7, 0, b"\xab")])
    assert got["generated"] == ["a 2 1763800600 discarded:node_power_loss_before_logging"]
    assert got["frames"] == ["a 5 868100000 7 0 ab"]
    assert got["delivered"] == ["a temperature 1763800600.0 12.5"]
