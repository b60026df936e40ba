# Typed exceptions of every driver. Callers catch SensorError and carry on: a failing sensor
# never takes the node down. Protocol checks raise these, never assert (stripped at -O).
from micropython import const

_ETIMEDOUT = const(110)  # errno of machine.I2C when the bus or the chip times out


class SensorError(Exception):
    """Base of every driver error."""


class ChecksumError(SensorError):
    """A frame or word arrived with a wrong checksum/CRC; the value was dropped."""


class InvalidValue(SensorError):
    """The frame was intact but carried an impossible value (NaN, infinity)."""


class SensorTimeout(SensorError):
    """No complete, valid answer arrived within the wait the datasheet allows."""


class NotReady(SensorError):
    """The driver put the sensor to sleep, or woke it less than its warm-up ago: read later."""


class NotPresent(SensorError):
    """The bus reported no device (NACK, ENODEV) or the chip identified as something else."""


def bus_error(exc, what):
    """Map an OSError of machine.I2C (or an adapter) to the driver's typed error."""
    code = exc.args[0] if exc.args else None
    if code == _ETIMEDOUT:
        return SensorTimeout("%s: bus timeout" % what)
    return NotPresent("%s: no answer on the bus (%s)" % (what, code))


class NoFix(NotReady):
    """A GNSS receiver answered with intact sentences that carry no position fix (yet)."""
