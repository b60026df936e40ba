"""The agent's TOML configuration: one dataclass per section, defaults and help in one place.

Every key is a dataclass field; its default is *the* default (nothing else repeats it) and its
metadata carries the one-line help that `edge gateway init` writes as a comment and the check
that validation applies. `load(path)` reads and validates a file and raises ConfigError with a
message naming the key and the fix. Sections: [gateway] [udp] [storage] [ingest] [lorawan]
[backfill] [mqtt] [buffer] [alerts] [local_sensors]. A new key is a new field below; a new
section a new dataclass listed in _CLASSES.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gateway.local.spec import DRIVERS as LOCAL_DRIVERS
from gateway.local.spec import check_sensors
from gateway.udp.server import TIME_WINDOW_S


class ConfigError(ValueError):
    """An invalid configuration; the message names the key and how to fix it."""


Check = Callable[[Any], str | None]  # returns a problem description, or None when fine


def _key(default: Any, help: str, check: Check | None = None) -> Any:
    return field(default=default, metadata={"help": help, "check": check})


def _req(help: str, check: Check | None = None) -> Any:
    return field(metadata={"help": help, "check": check, "required": True})


def _host_port(value: Any) -> str | None:
    try:
        parse_host_port(value)
    except ValueError as e:
        return str(e)
    return None


def parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError('must be HOST:PORT with a port 0..65535, e.g. "127.0.0.1:1700"')
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("host must be an IP address (127.0.0.1, 0.0.0.0, ::1), got %r" % host) from None
    return host, int(port)


def _range(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else "must be between %s and %s" % (lo, hi)


def _one_of(*choices: Any) -> Check:
    return lambda v: None if v in choices else "must be one of %s" % ", ".join(repr(c) for c in choices)


def _hex(nbytes: int) -> Check:
    return lambda v: (
        None if re.fullmatch("[0-9a-fA-F]{%d}" % (2 * nbytes), v) else "must be %d hex digits" % (2 * nbytes)
    )


def _gateway_id(v: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
        return None
    return "must be 1-64 letters, digits, '.', '_' or '-' (it becomes an MQTT topic level)"


def _printable(v: str) -> str | None:
    return None if v.isprintable() else "must not hold control characters"


def _mqtt_url(v: str) -> str | None:
    if v == "":
        return None  # no broker: readings are buffered, not forwarded
    try:
        u = urlparse(v)
        u.port  # noqa: B018 - parses the port: ValueError when it is not 0..65535
    except ValueError as e:
        return "is not a valid URL (%s)" % e
    if not v.isprintable() or u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        return 'must look like "mqtt://host:1883" or "mqtts://host:8883"'
    return None


def _data_dir(v: str) -> str | None:
    if not v:
        return "must name a directory"
    return _printable(v)


def _topic_root(v: str) -> str | None:
    if not v or any(c in v for c in "+#") or v.startswith("/") or v.endswith("/"):
        return 'must be a plain topic prefix such as "edge" (no +, #, leading or trailing /)'
    return None


@dataclass(frozen=True)
class GatewaySection:
    id: str = _req("name of this gateway, used in MQTT topics ({root}/{id}/up)", _gateway_id)


def _eui_list(v: Any) -> str | None:
    if isinstance(v, (list, tuple)) and all(isinstance(e, str) and re.fullmatch("[0-9a-fA-F]{16}", e) for e in v):
        return None
    return 'must be a list of gateway EUIs of 16 hex digits, e.g. ["aa555a0000000101"]'


@dataclass(frozen=True)
class UdpSection:
    bind: str = _key("127.0.0.1:1700", "address the packet forwarder sends to (keep it on loopback)", _host_port)
    receive_buffer_kb: int = _key(4096, "kernel receive buffer asked for the UDP socket, KiB", _range(64, 262144))
    gateways: tuple[str, ...] = _key(
        (), "gateway EUIs whose datagrams are taken (empty: any); others count as malformed.unknown_gateway", _eui_list
    )
    # A concentrator without GPS may report a clock years off; its rxpk.time is then no time at all.
    rxpk_time_window_s: float = _key(
        TIME_WINDOW_S,
        "an rxpk.time further than this from the agent's clock is replaced by the agent's clock, s "
        "(0: trust every rxpk.time, for a simulated concentrator on virtual time)",
        _range(0.0, 1e9),
    )


@dataclass(frozen=True)
class StorageSection:
    data_dir: str = _key(
        "/var/lib/edge-gateway", "directory for the registry, buffer and metrics (mode 0700)", _data_dir
    )
    # Each rewrite of metrics.json dirties a 4 KiB block of the SD card: at 0.5 s that alone was
    # ~400 bytes a reading at 20 readings/s (bench/agent_disk.py). Live figures go out over MQTT anyway.
    metrics_interval_s: float = _key(
        10.0, "how often the counters file read by `edge gateway status` is rewritten, s", _range(0.1, 3600.0)
    )


@dataclass(frozen=True)
class IngestSection:
    # 200 ms: at 20 uplinks/s a quarter of the disk writes of 20 ms (docs/gateway-forward.md, bench (c)),
    # and commit + an SD card's slow fsync still leave the RX1 downlink (1 s after the uplink) its margin.
    commit_deadline_ms: int = _key(200, "longest a decoded uplink waits for its group commit, ms", _range(1, 1000))
    commit_batch: int = _key(1024, "uplinks that trigger a commit before the deadline", _range(1, 100000))
    # While the broker acknowledges nothing, each commit that writes readings doubles the wait up to
    # this: every reading is written then, and fewer commits write fewer bytes a reading
    # (gateway/pending.py; bench/agent_disk.py, docs/gateway-forward.md).
    outage_commit_s: float = _key(
        10.0,
        "longest readings wait for their group commit while the broker is away, s (a power cut costs "
        "at most this window, never acknowledged to the nodes)",
        _range(0.2, 300.0),
    )
    # The broker usually acknowledges a live reading within milliseconds: then nothing of it is written
    # but its frame counter, which waits this long to share a write with others. 10 s: 143 bytes a
    # reading at 20 readings/s, 5 s: 246-273 (bench/agent_disk.py, docs/gateway-forward.md).
    counter_deadline_s: float = _key(
        10.0,
        "longest the frame counters of uplinks the broker already acknowledged wait for their write, s "
        "(a crash replays at most this window's frames, which the platform drops as duplicates)",
        _range(0.2, 60.0),
    )
    dedup_window_ms: int = _key(
        200, "copies of one frame from several concentrators merge within this, ms", _range(0, 5000)
    )
    time_source: str = _key(
        "concentrator",
        "clock that dates readings: concentrator (rxpk.time, GPS when fitted; the gateway's clock when "
        "a packet has none) or gateway (always the agent's clock)",
        _one_of("concentrator", "gateway"),
    )


@dataclass(frozen=True)
class LorawanSection:
    net_id: str = _key("000000", "LoRaWAN NetID (6 hex digits) for OTAA DevAddr allocation", _hex(3))
    rx1_delay_s: int = _key(1, "RX1 delay of data downlinks, seconds (the devices' setting)", _range(1, 15))
    rx2_frequency_hz: int = _key(869525000, "RX2 frequency (EU868 default 869.525 MHz)", _range(863000000, 870000000))
    rx2_datr: str = _key("SF12BW125", "RX2 data rate (EU868 default DR0 = SF12BW125)", _one_of(
        "SF12BW125", "SF11BW125", "SF10BW125", "SF9BW125", "SF8BW125", "SF7BW125"))  # fmt: skip
    tx_power_dbm: int = _key(14, "downlink transmit power, dBm", _range(0, 27))
    downlink_margin_ms: int = _key(
        100, "a downlink must reach the forwarder this long before its window", _range(10, 900)
    )
    duty_window_s: int = _key(3600, "window over which the downlink duty cycle is enforced, s", _range(60, 86400))
    duty_clock: str = _key("agent", 'the downlink duty cycle runs on "agent" (its clock) or "concentrator" (the '
                           "uplinks' tmst counter: for the simulator, whose concentrators run virtual time)",
                           _one_of("agent", "concentrator"))  # fmt: skip
    adr: bool = _key(True, "manage the data rate and TX power of devices that ask for ADR (LinkADRReq)")
    adr_margin_db: int = _key(10, "ADR installation margin above the demodulation floor, dB", _range(0, 30))
    nb_trans_max: int = _key(
        1, "highest NbTrans ADR asks for from the measured loss (1..3); a repetition dates the node's "
        "relative readings seconds late (docs/gateway.md), so 1 unless payloads carry absolute times", _range(1, 3)
    )
    cflist: bool = _key(True, "send the five extra EU868 channels 867.1-867.9 MHz in the Join-Accept")
    dev_status_interval_s: int = _key(
        86400, "ask a device for battery and margin (DevStatusReq) at most this often, s; 0: never", _range(0, 2592000)
    )


@dataclass(frozen=True)
class BackfillSection:
    enabled: bool = _key(True, "ask nodes to resend missing sequence numbers")
    retry_s: int = _key(900, "ask again for a gap not filled after this many seconds", _range(10, 86400))
    max_attempts: int = _key(4, "give up on a gap after this many requests", _range(1, 100))
    ack_interval_s: int = _key(600, "acknowledge stored readings to a node at most this often, s", _range(0, 86400))


@dataclass(frozen=True)
class MqttSection:
    url: str = _key(
        "", "broker URL, mqtt://host:port or mqtts://host:port (empty: readings are buffered, not forwarded)", _mqtt_url
    )
    version: str = _key("5", 'MQTT protocol version, "5" or "3.1.1"', _one_of("5", "3.1.1"))
    qos: int = _key(1, "QoS of published readings (1: PUBACK-confirmed)", _one_of(1, 2))
    topic_root: str = _key("edge", "first topic level: {root}/{gateway_id}/up", _topic_root)
    tls: bool = _key(False, "use TLS (implied by mqtts://)")
    ca_file: str = _key("", "CA certificate file for TLS (empty: system CAs)")
    cert_file: str = _key("", "client certificate file for TLS client authentication")
    key_file: str = _key("", "client key file for TLS client authentication (mode 0600)")
    username: str = _key("", "username (empty: no authentication)")
    password_file: str = _key("", "file holding the password (mode 0600); never put it in this file")
    client_id: str = _key("", "MQTT client id (empty: edge-gw-{gateway id})")
    keepalive_s: int = _key(30, "MQTT keep-alive, seconds", _range(5, 3600))
    session_expiry_s: int = _key(
        86400, "MQTT 5 session expiry the broker keeps our session for, s", _range(0, 2**32 - 1)
    )
    max_inflight: int = _key(
        16, "batches awaiting PUBACK at once (capped by the broker's Receive Maximum)", _range(1, 65535)
    )
    batch_max_readings: int = _key(1000, "readings in one MQTT message at most", _range(1, 100000))
    batch_max_bytes: int = _key(65536, "payload bytes of one MQTT message at most", _range(512, 256 * 1024 * 1024))
    compression: str = _key(
        "none",
        "deflate: send each pack zlib-compressed (RFC 1950) on {root}/{gateway_id}/up/deflate instead of "
        "plain on /up, about a third of the bytes for a backlog on a metered link (docs/platform.md)",
        _one_of("none", "deflate"),
    )
    reconnect_min_s: float = _key(
        1.0, "first reconnect delay; doubles up to reconnect_max_s, with jitter", _range(0.05, 600)
    )
    reconnect_max_s: float = _key(120.0, "longest reconnect delay, seconds", _range(0.1, 3600))
    retry_after_failure_s: float = _key(5.0, "wait before resending a batch the broker refused, s", _range(0, 3600))
    rate_readings_per_s: float = _key(
        0.0, "forward at most this many readings/s (0: as fast as the broker takes)", _range(0, 10**7)
    )
    bytes_per_day: int = _key(0, "payload bytes per UTC day for metered backhaul (0: no budget)", _range(0, 2**50))


@dataclass(frozen=True)
class BufferSection:
    quota_mb: int = _key(1024, "disk space the reading buffer may use, MiB", _range(1, 10**7))
    max_age_days: int = _key(30, "readings older than this are evicted, days", _range(1, 3650))
    delete_interval_s: float = _key(
        10.0, "acknowledged readings are deleted at the next commit, or alone after this long, s", _range(0, 3600)
    )
    check_interval_s: float = _key(60.0, "how often quota and age are enforced, s", _range(1, 86400))


@dataclass(frozen=True)
class AlertsSection:
    enabled: bool = _key(True, "publish alerts on {root}/{gateway_id}/alerts")
    metrics_interval_s: float = _key(
        60.0, "publish metrics on {root}/{gateway_id}/metrics this often, s", _range(1, 86400)
    )
    silent_intervals: int = _key(
        3, "a device is silent after this many of its usual intervals without data", _range(1, 1000)
    )
    default_interval_s: int = _key(300, "a device's interval until two readings show it, s", _range(1, 86400))
    stuck_count: int = _key(12, "this many identical readings in a row make a stuck value", _range(3, 100000))
    spike_mad: float = _key(
        10.0, "a value this many median deviations off its recent median is a spike", _range(2, 1000)
    )
    pm_humidity_limit: float = _key(80.0, "PM measured above this relative humidity is flagged, %RH", _range(0, 100))
    disk_full_fraction: float = _key(0.9, "disk nearly full: buffer at this share of its quota or disk", _range(0.1, 1))
    backhaul_down_s: int = _key(600, "alert when the broker was unreachable this long, s", _range(1, 10**7))
    flood_level_m: float = _key(
        2.0, "flood_level while a device's water_level is above this, m above its datum", _range(-30, 30)
    )
    container_full_pct: float = _key(
        90.0, "container_full while a device's fill_level is above this, %", _range(0, 100)
    )


@dataclass(frozen=True)
class LocalSensorsSection:
    enabled: bool = _key(False, "read sensors attached to the gateway itself")
    sensors: list = _key(
        (),
        "sensors as [[local_sensors.sensors]] tables: name, driver (%s), "
        "dev_eui, interval_s, i2c_bus/address or port/baudrate" % " ".join(LOCAL_DRIVERS),
        check_sensors,
    )


@dataclass(frozen=True)
class Config:
    gateway: GatewaySection
    udp: UdpSection
    storage: StorageSection
    ingest: IngestSection
    lorawan: LorawanSection
    backfill: BackfillSection
    mqtt: MqttSection
    buffer: BufferSection
    alerts: AlertsSection
    local_sensors: LocalSensorsSection
    path: Path | None = None

    @property
    def data_dir(self) -> Path:
        base = Path(self.storage.data_dir)
        if not base.is_absolute() and self.path is not None:
            base = self.path.parent / base
        return base


_CLASSES = {
    "gateway": GatewaySection,
    "udp": UdpSection,
    "storage": StorageSection,
    "ingest": IngestSection,
    "lorawan": LorawanSection,
    "backfill": BackfillSection,
    "mqtt": MqttSection,
    "buffer": BufferSection,
    "alerts": AlertsSection,
    "local_sensors": LocalSensorsSection,
}


def _type_ok(value: Any, ftype: Any) -> bool:
    if ftype in (int, "int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if ftype in (bool, "bool"):
        return isinstance(value, bool)
    if ftype in (str, "str"):
        return isinstance(value, str)
    if ftype in (float, "float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _type_name(ftype: Any) -> str:
    return {"int": "an integer", "bool": "true or false", "str": "a string", "float": "a number"}.get(
        str(ftype), str(ftype)
    )


def parse_section(name: str, cls: Any, raw: Any) -> Any:
    """One [name] table checked against its dataclass: unknown keys, types, ranges, required keys."""
    if not isinstance(raw, dict):
        raise ConfigError("[%s] must be a table; write it as a [%s] header with keys below it" % (name, name))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(
                "unknown key [%s] %s: remove it or use one of: %s" % (name, key, ", ".join(sorted(fields)))
            )
    values = {}
    for fname, f in fields.items():
        if fname not in raw:
            if f.metadata.get("required"):
                raise ConfigError("missing key [%s] %s: add it (%s)" % (name, fname, f.metadata["help"]))
            continue
        value = raw[fname]
        if not _type_ok(value, f.type):
            raise ConfigError("[%s] %s must be %s, got %r" % (name, fname, _type_name(f.type), value))
        check = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError("[%s] %s = %r %s" % (name, fname, value, problem))
        values[fname] = value
    return cls(**values)


def parse_sections(classes: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Every section of ``classes`` from a parsed TOML document; an unknown section is refused."""
    for name in raw:
        if name not in classes:
            raise ConfigError("unknown section [%s]: remove it or use one of: %s" % (name, ", ".join(classes)))
    return {name: parse_section(name, cls, raw.get(name, {})) for name, cls in classes.items()}


def from_dict(raw: dict[str, Any], path: Path | None = None) -> Config:
    cfg = Config(**parse_sections(_CLASSES, raw), path=path)
    if cfg.mqtt.url.startswith("mqtts://") and not cfg.mqtt.tls:
        cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, tls=True))
    return cfg


def read_toml(path: str | Path, init: str) -> tuple[dict[str, Any], Path]:
    """A config file parsed as TOML, and its resolved path; ``init`` is the command that writes one."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file %s not found: create it with `%s --config %s ...`" % (p, init, p)
        ) from None
    except OSError as e:
        raise ConfigError("cannot read config file %s: %s" % (p, e.strerror)) from None
    except UnicodeDecodeError as e:
        raise ConfigError("config file %s is not UTF-8 text (byte %d): save it as UTF-8" % (p, e.start)) from None
    except ValueError:  # a NUL in the path
        raise ConfigError("config path %r holds a NUL character" % str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s is not valid TOML: %s" % (p, e)) from None
    return raw, p.resolve()


def load(path: str | Path) -> Config:
    raw, resolved = read_toml(path, "edge gateway init")
    return from_dict(raw, resolved)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)) and not value:
        return "[]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    # TOML basic strings hold no control characters: escaped, so the file parses and the check names them
    return '"%s"' % "".join("\\u%04x" % ord(c) if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def render_sections(classes: dict[str, Any], overrides: dict[str, dict[str, Any]], header: list[str]) -> str:
    """A commented TOML file: every key with its help; overridden keys set, defaults commented out."""
    lines = list(header)
    for name, cls in classes.items():
        lines += ["", "[%s]" % name]
        given = overrides.get(name, {})
        for f in dataclasses.fields(cls):
            lines.append("# %s" % f.metadata["help"])
            if f.name in given:
                lines.append("%s = %s" % (f.name, _toml_value(given[f.name])))
            elif f.metadata.get("required"):
                lines.append("%s = %s  # required" % (f.name, _toml_value("")))
            else:
                lines.append("# %s = %s" % (f.name, _toml_value(f.default)))
    return "\n".join(lines) + "\n"


def render(overrides: dict[str, dict[str, Any]]) -> str:
    header = [
        "# edge gateway agent configuration (written by `edge gateway init`).",
        "# Keys left commented out take the default shown. Reference: docs/gateway.md.",
    ]
    return render_sections(_CLASSES, overrides, header)


def checked_render(overrides: dict[str, dict[str, Any]], path: Path | None = None) -> str:
    """render(), refused with ConfigError when the agent would refuse the file it makes."""
    text = render(overrides)
    from_dict(tomllib.loads(text), path)
    return text


def write(path: Path, text: str) -> None:
    """Replace the config file atomically, mode 0640 (secrets live in their own 0600 files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)
