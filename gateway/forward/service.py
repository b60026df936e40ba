"""The agent's services beside the ingest loop: the forwarder, the health service and the local sensors.

``build_services(cfg, buffer, metrics)`` returns objects with start() and stop() for
``Agent.add_service``; they run beside the ingest loop and are stopped before the buffer closes.
"""

from __future__ import annotations

import logging

from gateway.config import Config
from gateway.forward.forwarder import Forwarder
from gateway.forward.settings import from_config
from gateway.health.service import HealthService
from gateway.metrics import Metrics
from gateway.store.buffer import ReadingBuffer

log = logging.getLogger("edge.gateway.forward")


class ForwarderService:
    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder

    def start(self) -> None:
        self.forwarder.start()

    def stop(self) -> None:
        self.forwarder.stop()


def build_services(cfg: Config, buffer: ReadingBuffer, metrics: Metrics | None) -> list:
    """Forwarder, health and (when enabled) local sensors. Raises SettingsError for unusable settings."""
    services: list = []
    forwarder = None
    if cfg.mqtt.url:
        on_forwarded = (lambda n: metrics.inc("forwarded_readings", n)) if metrics is not None else None
        forwarder = Forwarder(buffer, from_config(cfg), on_forwarded=on_forwarded)
        services.append(ForwarderService(forwarder))
    else:
        log.warning("[mqtt] url is empty: readings are buffered (within quota and age) but not forwarded")
    services.append(HealthService(cfg, buffer, forwarder, metrics))
    if cfg.local_sensors.enabled:
        from gateway.local.service import LocalSensors

        services.append(LocalSensors.from_config(cfg, buffer))
    return services
