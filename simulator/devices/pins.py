# Virtual GPIO pins and a stand-in for machine.disable_irq()/enable_irq(), for the counters.
# A pin's level is driven from outside (the sensor side) with drive(); a matching edge runs the
# handler registered with irq(), or holds it while the shared IrqGuard is disabled, like a pending
# interrupt on the chip. Not modelled: pulls, open drain, input glitches shorter than a call.


class IrqGuard:
    """machine.disable_irq()/enable_irq(state) for virtual pins; pending edges run on enable."""

    def __init__(self):
        self.disabled = False
        self._pending = []
        self.disable_count = 0

    def disable_irq(self):
        state = self.disabled
        self.disabled = True
        self.disable_count += 1
        return state

    def enable_irq(self, state=False):
        self.disabled = state
        while not self.disabled and self._pending:
            handler, pin = self._pending.pop(0)
            handler(pin)

    def hold(self, handler, pin):
        self._pending.append((handler, pin))


class VirtualPin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, value=0, irq_guard=None):
        self._level = 1 if value else 0
        self._guard = irq_guard
        self._handler = None
        self._trigger = 0
        self.edges = 0

    def value(self, v=None):
        if v is None:
            return self._level
        self._level = 1 if v else 0
        return None

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=3):
        self._handler = handler
        self._trigger = trigger

    def drive(self, level):
        """Set the level from the sensor side; a matching edge fires (or queues) the handler."""
        level = 1 if level else 0
        if level == self._level:
            return
        self._level = level
        self.edges += 1
        kind = self.IRQ_RISING if level else self.IRQ_FALLING
        if self._handler is None or not (self._trigger & kind):
            return
        if self._guard is not None and self._guard.disabled:
            self._guard.hold(self._handler, self)
        else:
            self._handler(self)

    def pulse(self, clock, high_ms=20, low_ms=20):
        """One clean pulse: rise, high_ms, fall, low_ms (the clock advances)."""
        self.drive(1)
        clock.sleep_ms(high_ms)
        self.drive(0)
        clock.sleep_ms(low_ms)


# Beam states a passage goes through, as (a, b) levels with 1 = beam interrupted.
PASSAGE_IN = ((1, 0), (1, 1), (0, 1), (0, 0))
PASSAGE_OUT = ((0, 1), (1, 1), (1, 0), (0, 0))


def walk(pin_a, pin_b, clock, states, step_ms=100):
    """Drive two beam pins through states [(a, b), ...], one pin change at a time."""
    for a, b in states:
        if pin_a.value() != a:
            pin_a.drive(a)
        if pin_b.value() != b:
            pin_b.drive(b)
        clock.sleep_ms(step_ms)
