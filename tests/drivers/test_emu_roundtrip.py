"""Hypothesis extends the contract sweep of tests/device/test_emu_contract.py (13 fixed points a
quantity) to arbitrary values: any value in a chip's range, set on the emulator, comes back
through the real driver within the chip's resolution."""

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.clock import VirtualClock
from tests.device.test_emu_contract import SPECS


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_value_round_trips(data):
    for name, make, _, first, each, _ in SPECS:
        clock = VirtualClock()
        emu, drv = make(clock)
        first(drv, clock)
        wanted = {}
        for q, (lo, hi, _) in emu.QUANTITIES.items():
            wanted[q] = data.draw(st.floats(lo, hi, allow_nan=False), label="%s.%s" % (name, q))
        emu.set(**wanted)
        each(drv, clock)
        got = drv.read()
        for q, v in wanted.items():
            res = emu.QUANTITIES[q][2]
            assert abs(got[q] - v) <= res * 1.0001, (name, q, v, got[q])
