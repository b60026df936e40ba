# Counting on GPIO: a pulse counter (bike/people counters with a pulse output, tipping sensors)
# and a two-beam bidirectional counter. Only counts leave the device: no personal data.
#
# Interrupt handlers allocate nothing: they read the clock or the pins, compare small ints and
# add to preallocated counters. read() takes and zeroes the counts with interrupts disabled
# (machine.disable_irq/enable_irq, or the injected irq_guard), so no edge is lost or counted twice.
from micropython import const

from edge.clock import SystemClock

# Beam states are (a << 1) | b, 1 = beam interrupted. One passage "in" is 00 -> 10 -> 11 -> 01 -> 00,
# "out" is the reverse 00 -> 01 -> 11 -> 10 -> 00; anything else voids the passage uncounted.
_SEQ_IN = (0, 2, 3, 1, 0)
_SEQ_OUT = (0, 1, 3, 2, 0)
_IDLE = const(0)
_IN = const(1)
_OUT = const(2)
_VOID = const(3)  # off-sequence: wait until both beams are clear again
_LAST_STEP = const(3)


def _machine_guard():
    import machine  # on a board only; tests and the gateway inject their own guard

    return machine


class PulseCounter:
    """PulseCounter(pin, debounce_ms=20, clock=None, irq_guard=None).

    Counts rising edges of pin, ignoring any edge within debounce_ms of the last counted one
    (contact bounce). read() returns {'count_in': n} for the pulses since the previous read().
    irq_guard provides disable_irq()/enable_irq(state): the machine module by default.
    """

    WARMUP_MS = 0

    def __init__(self, pin, debounce_ms=20, clock=None, irq_guard=None):
        self._pin = pin
        self._clock = clock if clock is not None else SystemClock()
        self._guard = irq_guard if irq_guard is not None else _machine_guard()
        self._debounce = debounce_ms
        self._count = 0
        self.total = 0
        self._last = self._clock.ticks_add(self._clock.ticks_ms(), -debounce_ms)
        self._handler = self._on_edge  # bound once: registering must not allocate per edge
        self.wake()

    def _on_edge(self, pin):
        now = self._clock.ticks_ms()
        if self._clock.ticks_diff(now, self._last) >= self._debounce:
            self._last = now
            self._count += 1

    def read(self):
        state = self._guard.disable_irq()
        n = self._count
        self._count = 0
        self._guard.enable_irq(state)
        self.total += n
        return {"count_in": float(n)}

    def sleep(self):
        """Stop counting (the pin's interrupt is detached)."""
        self._pin.irq(handler=None)

    def wake(self):
        self._pin.irq(handler=self._handler, trigger=self._pin.IRQ_RISING)


class BeamCounter:
    """BeamCounter(pin_a, pin_b, active_low=False, clock=None, irq_guard=None).

    Two light barriers a short step apart; a pin reads 1 while its beam is interrupted (or 0 with
    active_low=True). Direction from the order the beams break and clear: 00-10-11-01-00 counts
    'count_in', 00-01-11-10-00 'count_out', anything else returns to idle without counting (a
    person turning back, two people crossing, a glitch). read() returns both counts since the
    previous read().
    """

    WARMUP_MS = 0

    def __init__(self, pin_a, pin_b, active_low=False, clock=None, irq_guard=None):
        self._a = pin_a
        self._b = pin_b
        self._flip = 3 if active_low else 0
        self._guard = irq_guard if irq_guard is not None else _machine_guard()
        self._in = 0
        self._out = 0
        self._dir = _IDLE
        self._step = 0
        self._prev = self._state()
        if self._prev:
            self._dir = _VOID  # started with a beam interrupted: wait until both are clear
        self._handler = self._on_edge
        self.wake()

    def _state(self):
        return ((self._a.value() << 1) | self._b.value()) ^ self._flip

    def _on_edge(self, pin):
        s = self._state()
        if s == self._prev:
            return
        self._prev = s
        d = self._dir
        if s == 0:
            if self._step == _LAST_STEP:
                if d == _IN:
                    self._in += 1
                elif d == _OUT:
                    self._out += 1
            self._dir = _IDLE
            self._step = 0
            return
        if d == _VOID:
            return
        if d == _IDLE:
            self._dir = _IN if s == _SEQ_IN[1] else (_OUT if s == _SEQ_OUT[1] else _VOID)
            self._step = 1
            return
        seq = _SEQ_IN if d == _IN else _SEQ_OUT
        if self._step < _LAST_STEP and s == seq[self._step + 1]:
            self._step += 1
        else:
            self._dir = _VOID

    def read(self):
        state = self._guard.disable_irq()
        n_in = self._in
        n_out = self._out
        self._in = 0
        self._out = 0
        self._guard.enable_irq(state)
        return {"count_in": float(n_in), "count_out": float(n_out)}

    def sleep(self):
        self._a.irq(handler=None)
        self._b.irq(handler=None)

    def wake(self):
        both = self._a.IRQ_RISING | self._a.IRQ_FALLING
        self._a.irq(handler=self._handler, trigger=both)
        self._b.irq(handler=self._handler, trigger=both)
