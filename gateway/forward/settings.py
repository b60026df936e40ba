"""The forwarder's settings, taken from the agent's validated config ([gateway], [mqtt], [buffer]).

Defaults live in gateway/config.py only; this module converts and resolves (URL parts, the password
file) and checks that key and password files are private (mode 0600 or stricter).
"""

import os
import stat
from dataclasses import dataclass

from gateway.config import Config
from gateway.forward.client import MqttOptions

SHORT_KEEPALIVE_S = 30  # probes and one-shot publishers: connect, do one thing, leave


class SettingsError(ValueError):
    """A setting that cannot be used as given; the message names the key and the fix."""


@dataclass(frozen=True)
class ForwarderSettings:
    gateway_id: str
    host: str
    port: int
    protocol: str  # "5" or "3.1.1"
    qos: int
    topic_root: str
    tls: bool
    ca_file: str
    cert_file: str
    key_file: str
    username: str
    password: str
    client_id: str
    keepalive_s: int
    session_expiry_s: int
    max_inflight: int
    batch_max_readings: int
    batch_max_bytes: int
    compression: str  # "none" or "deflate"
    reconnect_min_s: float
    reconnect_max_s: float
    retry_after_failure_s: float
    rate_readings_per_s: float  # 0: as fast as the broker accepts
    bytes_per_day: int  # 0: no budget
    delete_interval_s: float

    @property
    def up_topic(self) -> str:
        """Plain packs on .../up; deflated ones on .../up/deflate, so no consumer of plain packs
        (MQTT 3.1.1 has no property to tell them apart) ever receives a compressed one."""
        leaf = "up/deflate" if self.compression == "deflate" else "up"
        return "%s/%s/%s" % (self.topic_root, self.gateway_id, leaf)

    def topic(self, leaf: str) -> str:
        return "%s/%s/%s" % (self.topic_root, self.gateway_id, leaf)

    def mqtt_options(self, suffix: str = "", keep_session: bool = False) -> MqttOptions:
        """Connection options for the broker: the forwarder's own session (keep_session: resumed,
        kept session_expiry_s after a disconnect) or a short clean one whose client id ends in suffix."""
        return MqttOptions(
            self.host, self.port, self.client_id + suffix, protocol=self.protocol, tls=self.tls,
            ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file, username=self.username,
            password=self.password, keepalive_s=self.keepalive_s if keep_session else SHORT_KEEPALIVE_S,
            session_expiry_s=self.session_expiry_s if keep_session else None,
        )  # fmt: skip

    def __repr__(self) -> str:  # never show the password
        return "ForwarderSettings(%s:%d, user=%r, gateway=%r)" % (self.host, self.port, self.username, self.gateway_id)


def check_private(path: str, key: str) -> None:
    """A secret file must exist and be readable by its owner only."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as e:
        raise SettingsError("%s = %r cannot be read: %s" % (key, path, e.strerror)) from None
    if mode & 0o077:
        raise SettingsError("%s = %r has mode %04o: run `chmod 600 %s`" % (key, path, mode, path))


def from_config(cfg: Config) -> ForwarderSettings:
    m = cfg.mqtt
    if not m.url:
        raise SettingsError('[mqtt] url is empty, so nothing is forwarded: set it, e.g. url = "mqtts://broker:8883"')
    endpoint = MqttOptions.from_url(m.url, "", tls=m.tls)
    tls = endpoint.tls
    base = cfg.path.parent if cfg.path is not None else None

    def resolve(p: str) -> str:
        if p and base is not None and not os.path.isabs(p):
            return str(base / p)
        return p

    ca, cert, key, pw_file = (resolve(p) for p in (m.ca_file, m.cert_file, m.key_file, m.password_file))
    if bool(cert) != bool(key):
        raise SettingsError("[mqtt] cert_file and key_file go together: set both or neither")
    if (cert or ca) and not tls:
        raise SettingsError('[mqtt] ca_file/cert_file given but TLS is off: use an "mqtts://" url or tls = true')
    for path, name in ((ca, "[mqtt] ca_file"), (cert, "[mqtt] cert_file")):
        if path and not os.path.isfile(path):
            raise SettingsError("%s = %r does not exist" % (name, path))
    if key:
        check_private(key, "[mqtt] key_file")
    password = ""
    if pw_file:
        check_private(pw_file, "[mqtt] password_file")
        with open(pw_file) as f:
            password = f.read().strip("\r\n")
        if not m.username:
            raise SettingsError("[mqtt] password_file is set but username is empty: set [mqtt] username")
    return ForwarderSettings(
        gateway_id=cfg.gateway.id,
        host=endpoint.host,
        port=endpoint.port,
        protocol=m.version,
        qos=m.qos,
        topic_root=m.topic_root,
        tls=tls,
        ca_file=ca,
        cert_file=cert,
        key_file=key,
        username=m.username,
        password=password,
        client_id=m.client_id or "edge-gw-%s" % cfg.gateway.id,
        keepalive_s=m.keepalive_s,
        session_expiry_s=m.session_expiry_s,
        max_inflight=m.max_inflight,
        batch_max_readings=m.batch_max_readings,
        batch_max_bytes=m.batch_max_bytes,
        compression=m.compression,
        reconnect_min_s=m.reconnect_min_s,
        reconnect_max_s=m.reconnect_max_s,
        retry_after_failure_s=m.retry_after_failure_s,
        rate_readings_per_s=m.rate_readings_per_s,
        bytes_per_day=m.bytes_per_day,
        delete_interval_s=cfg.buffer.delete_interval_s,
    )
