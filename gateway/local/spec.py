"""What one ``[[local_sensors.sensors]]`` entry says: its driver, bus, EUI and interval, validated.

Kept apart from the service so gateway/config.py can check the entries without importing the
service (which needs the config) and no driver is imported to validate a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers import registry

# The chips a gateway can read: those of the chip registry on a bus Linux adapts (gateway/buses/).
DRIVERS = tuple(chip for chip in registry.CHIPS if registry.bus(chip) in ("i2c", "uart"))


@dataclass(frozen=True)
class SensorSpec:
    name: str
    driver: str
    dev_eui: str
    interval_s: float
    i2c_bus: int = 1
    address: int | None = None
    port: str = ""
    baudrate: int = 9600


def check_sensors(value: Any) -> str | None:
    """Validation of [local_sensors] sensors for gateway.config: a problem, or None."""
    try:
        parse_sensors(value)
    except ValueError as e:
        return str(e)
    return None


def parse_sensors(value: Any) -> list[SensorSpec]:
    if not isinstance(value, (list, tuple)):
        return _fail("must be a list of tables: [[local_sensors.sensors]] entries")
    out = []
    names = set()
    for i, raw in enumerate(value):
        where = "sensors[%d]" % i
        if not isinstance(raw, dict):
            _fail("%s must be a table with name, driver, dev_eui, interval_s and its bus" % where)
        known = {"name", "driver", "dev_eui", "interval_s", "i2c_bus", "address", "port", "baudrate"}
        extra = set(raw) - known
        if extra:
            _fail("%s has unknown keys %s: use %s" % (where, sorted(extra), ", ".join(sorted(known))))
        driver = raw.get("driver")
        if driver not in DRIVERS:
            _fail("%s driver = %r: use one of %s" % (where, driver, ", ".join(sorted(DRIVERS))))
        eui = raw.get("dev_eui", "")
        if not (isinstance(eui, str) and len(eui) == 16 and all(c in "0123456789abcdef" for c in eui)):
            _fail("%s dev_eui must be 16 lower-case hex digits (the EUI its readings carry)" % where)
        interval = raw.get("interval_s", 60)
        if not isinstance(interval, (int, float)) or not 1 <= interval <= 86400:
            _fail("%s interval_s must be a number of seconds between 1 and 86400" % where)
        name = raw.get("name", "%s-%d" % (driver, i))
        if name in names:
            _fail("%s name %r is used twice: give each sensor its own name" % (where, name))
        names.add(name)
        if registry.bus(driver) == "uart" and not raw.get("port"):
            _fail('%s (%s) needs port = "/dev/ttyUSB0" or similar' % (where, driver))
        out.append(SensorSpec(name, driver, eui, float(interval), int(raw.get("i2c_bus", 1)), raw.get("address"),
                              str(raw.get("port", "")), int(raw.get("baudrate", 9600))))  # fmt: skip
    return out


def _fail(message: str) -> Any:
    raise ValueError(message)
