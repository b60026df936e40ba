"""The platform service's TOML configuration: one dataclass per section, defaults and help here only.

Same conventions as the gateway's config (gateway/config.py, whose key helpers this reuses): every
key is a field whose default is *the* default, its help becomes the comment `edge platform init`
writes, and `load(path)` raises ConfigError naming the key and the fix.
Sections: [database] [mqtt] [ingest] [checks], and [ngsi] (central/ngsi/section.py: the NGSI-LD API).
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.ngsi.section import NgsiSection
from gateway.config import (
    ConfigError,
    _key,
    _mqtt_url,
    _one_of,
    _range,
    _req,
    _topic_root,
    parse_sections,
    read_toml,
    render_sections,
)

__all__ = ["ConfigError", "Config", "load", "render", "from_dict"]


def _dsn(v: str) -> str | None:
    if v.startswith(("postgresql://", "postgres://")) or "=" in v:
        return None
    return 'must be a libpq connection string, e.g. "postgresql://edge@db.example:5432/edge"'


def _group(v: str) -> str | None:
    if v and not any(c in v for c in "/+#"):
        return None
    return "must be a non-empty name without /, + or # (it is a topic level of $share/{group}/...)"


@dataclass(frozen=True)
class DatabaseSection:
    dsn: str = _req("PostgreSQL connection string (libpq URI); a password belongs in ~/.pgpass, not here", _dsn)


@dataclass(frozen=True)
class MqttSection:
    url: str = _req("broker URL, mqtt://host:1883 or mqtts://host:8883", _mqtt_url)
    version: str = _key(
        "5",
        '"5": shared subscription, N instances split the load; "3.1.1": run a single instance',
        _one_of("5", "3.1.1"),
    )
    topic_root: str = _key("edge", "first topic level the gateways publish under ({root}/{gateway_id}/up)", _topic_root)
    group: str = _key(
        "edge-platform", "shared-subscription group: instances with the same group split the data", _group
    )
    client_id: str = _key(
        "", "MQTT client id, unique per instance and kept across restarts (empty: edge-platform-{host})"
    )
    username: str = _key("", "username (empty: no authentication)")
    password_file: str = _key("", "file holding the password (mode 0600); never put it in this file")
    ca_file: str = _key("", "CA certificate file for mqtts:// (empty: system CAs)")
    keepalive_s: int = _key(30, "MQTT keep-alive, seconds", _range(5, 3600))
    session_expiry_s: int = _key(
        86400, "how long the broker keeps this instance's session and queue while it is away, s", _range(60, 2**32 - 1)
    )
    receive_maximum: int = _key(
        64, "messages the broker may send before this instance acknowledges (bounds memory)", _range(1, 65535)
    )


@dataclass(frozen=True)
class IngestSection:
    batch_values: int = _key(20000, "values committed in one transaction at most", _range(1, 10**6))
    batch_wait_s: float = _key(0.2, "longest wait for more messages before committing a batch, s", _range(0, 60))
    retry_min_s: float = _key(0.5, "first wait before retrying after a database error; doubles", _range(0.01, 600))
    retry_max_s: float = _key(30.0, "longest wait between database retries, s", _range(0.1, 3600))


@dataclass(frozen=True)
class ChecksSection:
    interval_s: float = _key(60.0, "run the platform checks every this many seconds (0: never)", _range(0, 86400))
    silent_intervals: float = _key(
        3.0, "a device is silent after this many of its measurement intervals without data", _range(1, 1000)
    )
    silent_min_s: int = _key(900, "never call a device silent sooner than this, s", _range(0, 10**7))
    missing_window_s: int = _key(21600, "window in which missing intervals are counted, s", _range(60, 10**7))
    missing_min: int = _key(3, "missing intervals in the window that raise missing_data", _range(1, 10**6))
    stuck_count: int = _key(12, "equal consecutive values that make a value stuck (counts excepted)", _range(2, 10**5))
    default_interval_s: int = _key(
        300, "interval assumed for a device until enough readings arrived to measure it, s", _range(1, 86400)
    )


@dataclass(frozen=True)
class Config:
    database: DatabaseSection
    mqtt: MqttSection
    ingest: IngestSection
    checks: ChecksSection
    ngsi: NgsiSection = dataclasses.field(default_factory=NgsiSection)
    path: Path | None = None

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or "edge-platform-%s" % socket.gethostname()


_CLASSES: dict[str, Any] = {
    "database": DatabaseSection,
    "mqtt": MqttSection,
    "ingest": IngestSection,
    "checks": ChecksSection,
    "ngsi": NgsiSection,
}


def from_dict(raw: dict[str, Any], path: Path | None = None) -> Config:
    return Config(**parse_sections(_CLASSES, raw), path=path)


def load(path: str | Path) -> Config:
    raw, resolved = read_toml(path, "edge platform init")
    return from_dict(raw, resolved)


def render(overrides: dict[str, dict[str, Any]]) -> str:
    header = [
        "# edge platform ingest configuration (written by `edge platform init`).",
        "# Keys left commented out take the default shown. Reference: docs/platform-ingest.md.",
    ]
    return render_sections(_CLASSES, overrides, header)
