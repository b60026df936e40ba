"""One way to build and connect a paho MQTT client, for every connection to the platform's broker.

The forwarder, the broker probe of ``edge gateway check``/``init`` and the metadata publisher all
connect through here, so TLS (``PROTOCOL_TLS_CLIENT``: TLS 1.2 or newer, certificate and host name
checked), credentials and session handling are the same everywhere. A platform-side service uses
it the same way::

    opts = MqttOptions.from_url("mqtts://broker:8883", client_id="platform-1", ca_file="ca.pem",
                                username="platform", password=read_secret("pw"), session_expiry_s=3600)
    client = new_client(opts)          # set callbacks, will, inflight limits on it
    connect(client, opts)              # raises OSError, ssl.SSLError or ValueError

``session_expiry_s=None`` asks for a clean start (the session ends with the connection: probes,
one-shot publishers); a number resumes the broker's session and asks it to keep the session that
long after a disconnect (MQTT 5 Session Expiry Interval, §3.1.2.11.2; on 3.1.1 clean session off).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PORT = 1883  # IANA registered MQTT ports
TLS_PORT = 8883


@dataclass(frozen=True)
class MqttOptions:
    host: str
    port: int
    client_id: str
    protocol: str = "5"  # "5" or "3.1.1"
    tls: bool = False
    ca_file: str = ""  # "": the system's CA store
    cert_file: str = ""  # client certificate and key, both or neither
    key_file: str = ""
    username: str = ""
    password: str = ""
    keepalive_s: int = 30
    session_expiry_s: int | None = None  # None: clean start

    @classmethod
    def from_url(cls, url: str, client_id: str, tls: bool = False, **kw: object) -> MqttOptions:
        """Options from ``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS on, port 8883)."""
        u = urlparse(url)
        tls = tls or u.scheme == "mqtts"
        port = u.port or (TLS_PORT if tls else PORT)
        return cls(u.hostname or "127.0.0.1", port, client_id, tls=tls, **kw)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # never show the password
        return "MqttOptions(%s:%d, client_id=%r, user=%r)" % (self.host, self.port, self.client_id, self.username)


def new_client(o: MqttOptions) -> mqtt.Client:
    """A paho client (callback API 2) with credentials and TLS set; not connected yet.
    TLS file problems raise OSError or ssl.SSLError here."""
    v5 = o.protocol == "5"
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=o.client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else o.session_expiry_s is None,
    )
    if o.username:
        c.username_pw_set(o.username, o.password or None)
    if o.tls:
        c.tls_set(
            ca_certs=o.ca_file or None,
            certfile=o.cert_file or None,
            keyfile=o.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    return c


def connect(c: mqtt.Client, o: MqttOptions) -> None:
    """Open the connection (CONNACK arrives in the network loop); raises OSError, ssl.SSLError, ValueError."""
    if o.protocol == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = o.session_expiry_s or 0
        c.connect(o.host, o.port, o.keepalive_s, clean_start=o.session_expiry_s is None, properties=props)
    else:
        c.connect(o.host, o.port, o.keepalive_s)
