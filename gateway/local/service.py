"""Sensors attached to the gateway itself, read with the nodes' own drivers, stored like node readings.

Each entry of ``[[local_sensors.sensors]]`` names a driver, its bus (I2C bus number and address,
or a serial port), the EUI its readings carry (what the platform sees in the SenML name) and its
interval. One thread reads every sensor when due and commits the readings with
``ReadingBuffer.commit_local``; the forwarder sends them with the rest. A driver's typed errors
(SensorError: checksum, timeout, not present, not ready) are counted and logged at most once a
minute per sensor; the other sensors go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from drivers import registry
from drivers.errors import SensorError
from edge import vocab
from gateway.config import Config
from gateway.local.spec import SensorSpec, parse_sensors
from gateway.service import ThreadService
from gateway.store.buffer import ReadingBuffer
from gateway.store.errors import StoreError
from gateway.store.records import Reading

log = logging.getLogger("edge.gateway.local")

LOG_EVERY_S = 60.0


def open_bus(spec: SensorSpec) -> Any:
    """The Linux bus for a sensor: smbus2 or pyserial behind the machine.I2C / machine.UART subset."""
    if registry.bus(spec.driver) == "i2c":
        from gateway.buses.i2c import SMBusI2C

        return SMBusI2C(spec.i2c_bus)
    from gateway.buses.uart import SerialUART

    return SerialUART(spec.port, baudrate=spec.baudrate)


def make_driver(spec: SensorSpec, bus: Any) -> Any:
    klass = registry.driver_class(spec.driver)
    if spec.address is not None:
        return klass(bus, address=spec.address)
    return klass(bus)


class _Sensor:
    def __init__(self, spec: SensorSpec, driver: Any) -> None:
        self.spec = spec
        self.driver = driver
        self.next_at = 0.0
        self.errors = 0
        self.reads = 0
        self.last_logged = -LOG_EVERY_S


class LocalSensors(ThreadService):
    """start()/stop() service for Agent.add_service."""

    def __init__(
        self,
        specs: list[SensorSpec],
        buffer: ReadingBuffer,
        bus_factory: Callable[[SensorSpec], Any] = open_bus,
    ) -> None:
        super().__init__("local-sensors")
        self.buffer = buffer
        self.sensors: list[_Sensor] = []
        for spec in specs:
            try:
                self.sensors.append(_Sensor(spec, make_driver(spec, bus_factory(spec))))
            except (OSError, SensorError, ValueError) as e:
                log.error("local sensor %s (%s) cannot be opened: %s; it is skipped", spec.name, spec.driver, e)
        self._seq = int(time.time())  # sequence numbers that keep growing across restarts

    @classmethod
    def from_config(cls, cfg: Config, buffer: ReadingBuffer) -> LocalSensors:
        return cls(parse_sensors(cfg.local_sensors.sensors), buffer)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            due = [s for s in self.sensors if now >= s.next_at]
            readings = [r for s in due if (r := self.read_one(s, now)) is not None]
            if readings:
                try:
                    self.buffer.commit_local(readings)
                except StoreError as e:
                    log.error("local readings could not be stored: %s", e)
            wait = min((s.next_at for s in self.sensors), default=now + 1.0) - time.monotonic()
            self._stop.wait(max(0.05, min(wait, 1.0)))

    def read_one(self, s: _Sensor, now: float) -> Reading | None:
        s.next_at = now + s.spec.interval_s
        try:
            values = s.driver.read()
        except SensorError as e:
            s.errors += 1
            if now - s.last_logged >= LOG_EVERY_S:
                s.last_logged = now
                log.warning("local sensor %s: %s: %s (%d errors so far)", s.spec.name, type(e).__name__, e, s.errors)
            return None
        kept = {k: float(v) for k, v in values.items() if k in vocab.BY_NAME}
        if not kept:
            return None
        s.reads += 1
        self._seq += 1
        return Reading(s.spec.dev_eui, self._seq, int(time.time()), kept)
