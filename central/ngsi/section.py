"""The ``[ngsi]`` section of the platform config (central/config.py): how ``edge platform serve``
serves the NGSI-LD API and the page, and how the views and exports read the data. Every default is
here; `edge platform init` writes them, commented, with their help."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from central.indicators import DEFAULT_TZ
from gateway.config import _host_port, _key

# The port NGSI-LD context brokers listen on (Orion-LD, Scorpio, Stellio's defaults), on loopback.
DEFAULT_BIND = "127.0.0.1:1026"


def _euis(v: Any) -> str | None:
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) and re.fullmatch("[0-9a-f]{16}", x) for x in v):
        return None
    return "must be a list of dev_euis (16 lower-case hex digits)"


def _zone(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return "is not a time zone name (e.g. Europe/Paris)"
    return None


@dataclass(frozen=True)
class NgsiSection:
    bind: str = _key(
        DEFAULT_BIND, "HOST:PORT of the NGSI-LD API and the page (loopback unless allow_remote)", _host_port
    )
    allow_remote: bool = _key(False, "serve on a non-loopback address (put TLS and the token in front of it)")
    token: str = _key("", "access token: requests need 'Authorization: Bearer <token>' (empty: none)")
    bicycle_counters: tuple = _key((), "dev_euis whose counts are bicycles (TrafficFlowObserved); others people", _euis)
    timezone: str = _key(DEFAULT_TZ, "local time of the indicators' days and hours and of export dates", _zone)
