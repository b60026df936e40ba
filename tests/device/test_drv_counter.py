from drivers.counter import BeamCounter, PulseCounter
from edge.clock import VirtualClock
from simulator.devices.pins import PASSAGE_IN, PASSAGE_OUT, IrqGuard, VirtualPin, walk


def _pulse_setup(**kw):
    clock = VirtualClock()
    guard = IrqGuard()
    pin = VirtualPin(irq_guard=guard)
    return clock, guard, pin, PulseCounter(pin, clock=clock, irq_guard=guard, **kw)


def test_counts_pulses_and_resets_on_read():
    clock, guard, pin, pc = _pulse_setup()
    for _ in range(7):
        pin.pulse(clock)
    assert pc.read() == {"count_in": 7.0}
    assert pc.read() == {"count_in": 0.0}
    pin.pulse(clock)
    assert pc.read() == {"count_in": 1.0} and pc.total == 8


def test_debounce_ignores_contact_bounce():
    clock, guard, pin, pc = _pulse_setup(debounce_ms=20)
    for _ in range(3):
        # one press that bounces: rise, 1 ms, fall, 1 ms, rise ... then stays high
        for _ in range(4):
            pin.drive(1)
            clock.advance(1)
            pin.drive(0)
            clock.advance(1)
        pin.drive(1)
        clock.advance(50)
        pin.drive(0)
        clock.advance(50)
    assert pc.read() == {"count_in": 3.0}
    assert pin.edges == 3 * 10


def test_read_and_reset_is_atomic():
    # An edge that arrives while read() has interrupts disabled is held by the interrupt
    # controller and counted in the next interval: not lost, not counted twice.
    clock = VirtualClock()
    pin_holder = []

    class EdgeDuringRead(IrqGuard):
        def disable_irq(self):
            state = IrqGuard.disable_irq(self)
            pin = pin_holder[0]
            pin.drive(1)
            clock.advance(30)
            pin.drive(0)
            return state

    guard = EdgeDuringRead()
    pin = VirtualPin(irq_guard=guard)
    pin_holder.append(pin)
    pc = PulseCounter(pin, clock=clock, irq_guard=guard)
    pin.pulse(clock, 30, 30)
    assert pc.read() == {"count_in": 1.0}
    assert guard.disable_count == 1 and not guard.disabled
    assert pc.read() == {"count_in": 1.0}  # the held edge, plus none lost


def test_sleep_stops_counting():
    clock, guard, pin, pc = _pulse_setup()
    pc.sleep()
    pin.pulse(clock)
    assert pc.read()["count_in"] == 0.0
    pc.wake()
    pin.pulse(clock)
    assert pc.read()["count_in"] == 1.0


def _beam_setup(**kw):
    clock = VirtualClock()
    guard = IrqGuard()
    a = VirtualPin(irq_guard=guard)
    b = VirtualPin(irq_guard=guard)
    return clock, guard, a, b, BeamCounter(a, b, irq_guard=guard, **kw)


def test_beam_direction():
    clock, guard, a, b, bc = _beam_setup()
    for _ in range(3):
        walk(a, b, clock, PASSAGE_IN)
    for _ in range(2):
        walk(a, b, clock, PASSAGE_OUT)
    assert bc.read() == {"count_in": 3.0, "count_out": 2.0}
    assert bc.read() == {"count_in": 0.0, "count_out": 0.0}


def test_beam_off_sequence_returns_to_idle_uncounted():
    clock, guard, a, b, bc = _beam_setup()
    walk(a, b, clock, ((1, 0), (0, 0)))  # breaks A, steps back
    walk(a, b, clock, ((1, 0), (1, 1), (1, 0), (0, 0)))  # reaches both, turns back
    walk(a, b, clock, ((1, 0), (1, 1), (0, 1), (1, 1), (0, 1), (0, 0)))  # hesitates in the middle
    # both beams break within one interrupt latency (two people side by side): the handlers run
    # late and both see 11 straight from 00
    state = guard.disable_irq()
    a.drive(1)
    b.drive(1)
    guard.enable_irq(state)
    walk(a, b, clock, ((0, 1), (0, 0)))
    assert bc.read() == {"count_in": 0.0, "count_out": 0.0}
    walk(a, b, clock, PASSAGE_IN)  # and the next clean passage counts
    assert bc.read() == {"count_in": 1.0, "count_out": 0.0}


def test_beam_started_interrupted_waits_for_clear():
    clock = VirtualClock()
    guard = IrqGuard()
    a = VirtualPin(1, irq_guard=guard)
    b = VirtualPin(0, irq_guard=guard)
    bc = BeamCounter(a, b, irq_guard=guard)
    walk(a, b, clock, ((1, 1), (0, 1), (0, 0)))  # the tail of a passage begun before boot
    walk(a, b, clock, PASSAGE_OUT)
    assert bc.read() == {"count_in": 0.0, "count_out": 1.0}


def test_beam_active_low():
    clock = VirtualClock()
    guard = IrqGuard()
    a = VirtualPin(1, irq_guard=guard)
    b = VirtualPin(1, irq_guard=guard)
    bc = BeamCounter(a, b, active_low=True, irq_guard=guard)
    walk(a, b, clock, ((0, 1), (0, 0), (1, 0), (1, 1)))
    assert bc.read() == {"count_in": 1.0, "count_out": 0.0}


def test_handlers_allocate_nothing():
    # On MicroPython, gc.mem_alloc() must not grow while edges go through the handlers (and the
    # virtual pins). heap_lock() would say so too, but this WebAssembly VM hangs instead of
    # raising MemoryError under it. On CPython the same edges still have to count.
    import gc
    import sys

    clock, guard, pin, pc = _pulse_setup()
    _, _, a, b, bc = _beam_setup()
    mp = sys.implementation.name == "micropython"
    gc.collect()
    before = gc.mem_alloc() if mp else 0
    for _ in range(10):
        pin.drive(1)
        clock.advance(30)
        pin.drive(0)
        clock.advance(30)
        a.drive(1)
        b.drive(1)
        a.drive(0)
        b.drive(0)
    after = gc.mem_alloc() if mp else 0
    assert after == before, "handlers allocated %d bytes" % (after - before)
    assert pc.read() == {"count_in": 10.0}
    assert bc.read() == {"count_in": 10.0, "count_out": 0.0}
